//! Seconds per phase of a block, recorded through one `Recorder` passed down (or the no-op one).

use std::time::Instant;

/// The phases of one block, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Copying the rows to f64 and normalising them.
    Normalise,
    /// The inner products (one triangle of X Xᵀ).
    Gram,
    /// The arc-cosine transform u -> H(u).
    Transform,
    /// The Cholesky factorisation of H, every ridge attempt.
    Cholesky,
    /// The triangular solves for α.
    Solve,
    /// The trailing p x p triangular inverse and its column norms.
    Inverse,
    /// The whole block, allocation of H included.
    Total,
}

/// Where the seconds of each phase go. [`NoTiming`] records nothing and reads no clock.
pub trait Recorder: Send {
    /// A point in time, or nothing for a recorder that does not time.
    type Mark: Copy;
    /// Now.
    fn mark(&self) -> Self::Mark;
    /// Adds the seconds since `mark` to `phase`.
    fn add_since(&mut self, phase: Phase, mark: Self::Mark);
    /// Runs `f`, adding its seconds to `phase`.
    #[inline]
    fn time<R>(&mut self, phase: Phase, f: impl FnOnce() -> R) -> R {
        let mark = self.mark();
        let out = f();
        self.add_since(phase, mark);
        out
    }
}

/// The recorder of a block nobody times.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTiming;

impl Recorder for NoTiming {
    type Mark = ();
    #[inline]
    fn mark(&self) {}
    #[inline]
    fn add_since(&mut self, _: Phase, _: ()) {}
}

/// Seconds spent in each phase of one block, ridge retries included.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    pub normalise: f64,
    pub gram: f64,
    pub transform: f64,
    pub cholesky: f64,
    pub solve: f64,
    pub inverse: f64,
    pub total: f64,
}

impl PhaseTimes {
    /// (name, seconds) of every phase, `total` last: the names the Python side reports.
    pub fn named(&self) -> [(&'static str, f64); 7] {
        [
            ("normalise", self.normalise),
            ("gram", self.gram),
            ("transform", self.transform),
            ("cholesky", self.cholesky),
            ("solve", self.solve),
            ("inverse", self.inverse),
            ("total", self.total),
        ]
    }
}

impl Recorder for PhaseTimes {
    type Mark = Instant;
    #[inline]
    fn mark(&self) -> Instant {
        Instant::now()
    }
    fn add_since(&mut self, phase: Phase, mark: Instant) {
        let seconds = mark.elapsed().as_secs_f64();
        let slot = match phase {
            Phase::Normalise => &mut self.normalise,
            Phase::Gram => &mut self.gram,
            Phase::Transform => &mut self.transform,
            Phase::Cholesky => &mut self.cholesky,
            Phase::Solve => &mut self.solve,
            Phase::Inverse => &mut self.inverse,
            Phase::Total => &mut self.total,
        };
        *slot += seconds;
    }
}
