//! The block driver: from a `k x d` row-major block of examples to the scores of its positives.

use crate::error::CoreError;
use crate::kernel::{kernel_lower, Element};
use crate::loo::{self, BlockScores};
use crate::threads::with_threads;

fn kernel_buffer(k: usize) -> Result<Vec<f64>, CoreError> {
    let len = k
        .checked_mul(k)
        .ok_or_else(|| CoreError::Shape(format!("a block of {k} rows is too large")))?;
    let mut h = Vec::new();
    h.try_reserve_exact(len).map_err(|_| {
        CoreError::Shape(format!(
            "cannot allocate the {k} x {k} kernel matrix ({:.1} GiB)",
            len as f64 * 8.0 / (1u64 << 30) as f64
        ))
    })?;
    h.resize(len, 0.0);
    Ok(h)
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
    let mut h = kernel_buffer(k)?;
    with_threads(threads, |par| {
        loo::block_scores(&mut h, k, p, par, |h| kernel_lower(x, k, d, h, par))
    })
}

/// The full symmetric H of the block `x` (`k x d`, row-major), row-major (= column-major).
pub fn gram<T: Element>(x: &[T], k: usize, d: usize, threads: usize) -> Result<Vec<f64>, CoreError> {
    let mut h = kernel_buffer(k)?;
    with_threads(threads, |par| kernel_lower(x, k, d, &mut h, par))?;
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
        loo::complexity(&mut h, k, y, par, |h| kernel_lower(x, k, d, h, par))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(k: usize, d: usize) -> Vec<f64> {
        (0..k * d).map(|i| ((i * 7919 % 1013) as f64 / 1013.0) - 0.4).collect()
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
    }

    #[test]
    fn f32_block_scores_like_its_f64_widening() {
        let (k, d, p) = (40, 6, 15);
        let x32: Vec<f32> = sample(k, d).iter().map(|&v| v as f32).collect();
        let x64: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(score_block(&x32, k, d, p, 2).unwrap(), score_block(&x64, k, d, p, 2).unwrap());
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
        let ridge2 = loo::factor_with_ridge(&mut hb, k, faer::Par::Seq, |b| {
            b.copy_from_slice(&h);
            Ok(())
        }, |_| true).unwrap();
        assert_eq!(ridge2, 0.0);
        let alpha = loo::solve(&hb, k, &y);
        let quad: f64 = alpha.iter().zip(&y).map(|(a, b)| a * b).sum();
        assert!((quad - c).abs() < 1e-9 * c);
    }
}
