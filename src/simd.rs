//! CPU-feature dispatch, written once: a loop body run as AVX-512, AVX2 or baseline code.
//!
//! The loops contain no fused multiply-add (Rust never contracts `a * b + c`), so every width
//! computes the same bits: the choice changes speed only, never a score.

/// A loop to compile once per instruction set. `run` must be `#[inline(always)]`, so that its
/// body is compiled inside each feature-enabled caller below.
pub trait Simd {
    type Output;
    fn run(self) -> Self::Output;
}

/// Runs `op` with the widest instruction set this CPU offers.
#[inline]
pub fn dispatch<S: Simd>(op: S) -> S::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the instruction set the function was compiled for.
            return unsafe { run_avx512(op) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { run_avx2(op) };
        }
    }
    op.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512<S: Simd>(op: S) -> S::Output {
    op.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<S: Simd>(op: S) -> S::Output {
    op.run()
}

/// `Σ a_i b_i` in eight interleaved partial sums.
struct Dot<'a>(&'a [f64], &'a [f64]);

impl Simd for Dot<'_> {
    type Output = f64;
    #[inline(always)]
    fn run(self) -> f64 {
        dot_lanes(self.0, self.1)
    }
}

#[inline(always)]
fn dot_lanes(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

/// `Σ a_i b_i` in a fixed order (eight interleaved partial sums), whoever calls it: the same inputs
/// give the same bits on any thread and at any SIMD width.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    dispatch(Dot(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_is_the_same_at_every_width() {
        let sample = |n: usize, seed: u64| -> Vec<f64> {
            let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (0..n)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.3
                })
                .collect()
        };
        for n in [0, 1, 7, 8, 9, 64, 1001] {
            let a = sample(n, 1);
            let b = sample(n, 2);
            assert_eq!(dot(&a, &b).to_bits(), dot_lanes(&a, &b).to_bits(), "n={n}");
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-12);
        }
    }
}
