//! The block driver: from a `k x d` row-major block of examples to the scores of its positives.

use crate::error::CoreError;
use crate::kernel::{kernel_lower, Element, KernelTimes, Precision};
use crate::loo::{self, BlockScores};
use crate::threads::with_threads;

/// Seconds spent in each phase of one block, ridge retries included.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// Copying the rows to f64 and normalising them.
    pub normalise: f64,
    /// The inner products (one triangle of X Xᵀ).
    pub gram: f64,
    /// The arc-cosine transform u -> H(u).
    pub transform: f64,
    /// The Cholesky factorisation of H.
    pub cholesky: f64,
    /// The two triangular solves for α.
    pub solve: f64,
    /// The trailing p x p triangular inverse and its column norms.
    pub inverse: f64,
    /// The whole block, allocation of H included.
    pub total: f64,
}

/// A zeroed `k x k` buffer for H, from the allocator's zeroed pages: no pass over 8k² bytes before
/// the Gram writes them, and the first touch of each page happens in the parallel Gram.
fn kernel_buffer(k: usize) -> Result<Vec<f64>, CoreError> {
    let too_large = || {
        CoreError::Shape(format!(
            "cannot allocate the {k} x {k} kernel matrix ({:.1} GiB)",
            k as f64 * k as f64 * 8.0 / (1u64 << 30) as f64
        ))
    };
    let len = k.checked_mul(k).ok_or_else(too_large)?;
    if len == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<f64>(len).map_err(|_| too_large())?;
    // SAFETY: the layout has a non-zero size. A non-null result is a zeroed allocation of `len`
    // f64s (all-zero bits are 0.0) from the global allocator with the layout `Vec<f64>` uses for
    // capacity `len`, so the Vec may own and free it.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<f64>();
        if ptr.is_null() {
            return Err(too_large());
        }
        Ok(Vec::from_raw_parts(ptr, len, len))
    }
}

/// Scores the last `p` rows of the block `x` (`k x d`, row-major) against the first `k − p`.
///
/// `threads` = 0 uses every CPU this process may run on.
pub fn score_block<T: Element>(
    x: &[T],
    k: usize,
    d: usize,
    p: usize,
    threads: usize,
) -> Result<BlockScores, CoreError> {
    score_block_in(x, k, d, p, threads, Precision::Double)
}

/// [`score_block`] with the inner products in the given precision.
pub fn score_block_in<T: Element>(
    x: &[T],
    k: usize,
    d: usize,
    p: usize,
    threads: usize,
    precision: Precision,
) -> Result<BlockScores, CoreError> {
    profile_block(x, k, d, p, threads, precision).map(|(scores, _)| scores)
}

/// [`score_block_in`], also returning the seconds each phase took.
pub fn profile_block<T: Element>(
    x: &[T],
    k: usize,
    d: usize,
    p: usize,
    threads: usize,
    precision: Precision,
) -> Result<(BlockScores, PhaseTimes), CoreError> {
    let start = std::time::Instant::now();
    let mut h = kernel_buffer(k)?;
    let mut kernel = KernelTimes::default();
    let (scores, loo) = with_threads(threads, |par| {
        loo::block_scores_timed(&mut h, k, p, par, |h| {
            let t = kernel_lower(x, k, d, h, precision, par)?;
            kernel.normalise += t.normalise;
            kernel.gram += t.gram;
            kernel.transform += t.transform;
            Ok(())
        })
    })?;
    let times = PhaseTimes {
        normalise: kernel.normalise,
        gram: kernel.gram,
        transform: kernel.transform,
        cholesky: loo.cholesky,
        solve: loo.solve,
        inverse: loo.inverse,
        total: start.elapsed().as_secs_f64(),
    };
    Ok((scores, times))
}

/// The full symmetric H of the block `x` (`k x d`, row-major), row-major (= column-major).
pub fn gram<T: Element>(
    x: &[T],
    k: usize,
    d: usize,
    threads: usize,
) -> Result<Vec<f64>, CoreError> {
    let mut h = kernel_buffer(k)?;
    with_threads(threads, |par| {
        kernel_lower(x, k, d, &mut h, Precision::Double, par)
    })?;
    for j in 0..k {
        for i in j + 1..k {
            h[i * k + j] = h[j * k + i];
        }
    }
    Ok(h)
}

/// yᵀ H⁻¹ y for the block `x` (`k x d`, row-major) and labels `y`; returns it with the ridge used.
pub fn complexity<T: Element>(
    x: &[T],
    k: usize,
    d: usize,
    y: &[f64],
    threads: usize,
) -> Result<(f64, f64), CoreError> {
    let mut h = kernel_buffer(k)?;
    with_threads(threads, |par| {
        loo::complexity(&mut h, k, y, par, |h| {
            kernel_lower(x, k, d, h, Precision::Double, par).map(drop)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(k: usize, d: usize) -> Vec<f64> {
        (0..k * d)
            .map(|i| ((i * 7919 % 1013) as f64 / 1013.0) - 0.4)
            .collect()
    }

    #[test]
    fn gram_is_symmetric_with_half_diagonal() {
        let (k, d) = (11, 4);
        let h = gram(&sample(k, d), k, d, 1).unwrap();
        for i in 0..k {
            assert_eq!(h[i * k + i], 0.5);
            for j in 0..k {
                assert_eq!(h[i * k + j], h[j * k + i]);
            }
        }
    }

    #[test]
    fn thread_count_does_not_change_a_bit() {
        let (k, d, p) = (700, 37, 300);
        let x = sample(k, d);
        let one = score_block(&x, k, d, p, 1).unwrap();
        for threads in [2, 3, 4] {
            assert_eq!(score_block(&x, k, d, p, threads).unwrap(), one);
        }
        let mixed = score_block_in(&x, k, d, p, 1, Precision::Mixed).unwrap();
        for threads in [2, 3, 4] {
            assert_eq!(
                score_block_in(&x, k, d, p, threads, Precision::Mixed).unwrap(),
                mixed
            );
        }
    }

    #[test]
    fn mixed_precision_scores_track_double() {
        // Several panels, a ragged last one, and positives spanning panel edges.
        let (k, d, p) = (600, 64, 250);
        let mut state = 12345u64;
        let x: Vec<f64> = (0..k * d)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect();
        let double = score_block(&x, k, d, p, 2).unwrap();
        let mixed = score_block_in(&x, k, d, p, 2, Precision::Mixed).unwrap();
        assert_eq!(mixed.ridge, 0.0);
        let scale = double.score.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        for (a, b) in double.score.iter().zip(&mixed.score) {
            assert!(
                (a - b).abs() <= 1e-3 * scale,
                "double {a} mixed {b} (max {scale})"
            );
        }
        assert_ne!(
            double, mixed,
            "mixed precision should not silently run in f64"
        );
    }

    #[test]
    fn profile_reports_every_phase_and_the_same_scores() {
        let (k, d, p) = (300, 20, 100);
        let x = sample(k, d);
        for precision in [Precision::Double, Precision::Mixed] {
            let (scores, t) = profile_block(&x, k, d, p, 2, precision).unwrap();
            assert_eq!(scores, score_block_in(&x, k, d, p, 1, precision).unwrap());
            let parts = [
                t.normalise,
                t.gram,
                t.transform,
                t.cholesky,
                t.solve,
                t.inverse,
            ];
            assert!(parts.iter().all(|&s| s > 0.0 && s.is_finite()), "{t:?}");
            assert!(parts.iter().sum::<f64>() <= t.total);
        }
    }

    #[test]
    fn f32_block_scores_like_its_f64_widening() {
        let (k, d, p) = (40, 6, 15);
        let x32: Vec<f32> = sample(k, d).iter().map(|&v| v as f32).collect();
        let x64: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(
            score_block(&x32, k, d, p, 2).unwrap(),
            score_block(&x64, k, d, p, 2).unwrap()
        );
    }

    #[test]
    fn complexity_equals_sum_over_solve() {
        let (k, d) = (25, 5);
        let x = sample(k, d);
        let y: Vec<f64> = (0..k).map(|i| if i < 10 { -1.0 } else { 1.0 }).collect();
        let (c, ridge) = complexity(&x, k, d, &y, 2).unwrap();
        assert_eq!(ridge, 0.0);
        let h = gram(&x, k, d, 1).unwrap();
        // yᵀ H⁻¹ y ≥ ‖y‖² / λ_max(H) > 0, and H α = y for α from the factor.
        assert!(c > 0.0 && c.is_finite());
        let mut hb = vec![0.0; k * k];
        let ridge2 = loo::factor_with_ridge(
            &mut hb,
            k,
            faer::Par::Seq,
            |b| {
                b.copy_from_slice(&h);
                Ok(())
            },
            |_| true,
        )
        .unwrap();
        assert_eq!(ridge2, 0.0);
        let alpha = loo::solve(&hb, k, &y, faer::Par::Seq);
        let quad: f64 = alpha.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!((quad - c).abs() < 1e-9 * c);
    }
}
