//! Mixed precision: H in float32, factorised in float32, α refined in float64 against the f64 kernel.
//!
//! The f64 kernel is computed once, panel by panel, and kept as f32 in both triangles of one
//! `k x k` matrix plus, above the diagonal, the low bits f32 drops (2 bytes an entry): `5k²`
//! bytes against float64's `8k²`, and a Cholesky factor in half the time. The factor overwrites
//! the lower triangle; α from it is refined against the upper one and the low bits, y − H α
//! summed in f64, until the correction is negligible or the residual stops shrinking. diag(H⁻¹)
//! of the positives comes from the f32 factor. A block the f32 factor cannot resolve is left to
//! the float64 path.

use faer::{MatMut, MatRef, Par};

use crate::cholesky::cholesky_lower;
use crate::element::UnitRows;
use crate::error::CoreError;
use crate::loo::{labels, terms, BlockScores};
use crate::panel::{kernel_f32, LowBits, UpperBand};
use crate::residual::residual;
use crate::solve::{solve, trailing_inverse_diagonal};
use crate::timing::{Phase, Recorder};

/// Most refinement steps (each one residual, a pass over the f32 H, and two triangular solves)
/// before the iteration is cut off.
pub const MAX_REFINE: usize = 4;
/// The iteration stops once the last correction, times the rate at which corrections shrink
/// (the error it leaves in α), falls below this fraction of max|α|. Scores are quadratic in α,
/// so they then carry at most ~1e-5 of it, no more than the f32 diag(H⁻¹) leaves in them
/// (measured 3e-5 of the largest score on 8192-row image blocks).
pub const REFINE_TOLERANCE: f64 = 3e-6;

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Scores of the last `p` unit rows with H in f32, built in the `k x k` view `h`, or `None` when
/// the block needs float64: the f32 factorisation fails or has a pivot f32 cannot resolve, the
/// refinement does not converge, or a result is not finite.
pub fn mixed_scores<R: Recorder>(
    rows: &UnitRows,
    mut h: MatMut<'_, f32>,
    p: usize,
    par: Par,
    rec: &mut R,
) -> Result<Option<BlockScores>, CoreError> {
    let k = rows.len();
    let low = kernel_f32(rows, h.as_mut(), par, rec)?;
    let band = UpperBand::save(h.as_ref());
    if !rec.time(Phase::Cholesky, || cholesky_lower(h.as_mut(), par)) {
        return Ok(None);
    }
    band.restore(h.as_mut());
    let l = h.as_ref();
    let y = labels(k, p);
    let Some(alpha) = refined_solve(l, &low, &y, par, rec) else {
        return Ok(None);
    };
    let diag = rec.time(Phase::Inverse, || trailing_inverse_diagonal(l, p, par));
    let out = terms(&alpha[k - p..], &diag, &y[k - p..]);
    let finite = diag.iter().all(|&d| d > 0.0)
        && [&out.score, &out.a2, &out.ab, &out.b2]
            .iter()
            .all(|v| v.iter().all(|x| x.is_finite()));
    Ok(finite.then_some(out))
}

/// α = H⁻¹ y from the f32 factor in the lower triangle of `l`, refined against the f64 H in its
/// upper one and `low`.
///
/// Each step solves with the f32 factor for the correction of the current f64 residual. It stops
/// when the correction is negligible ([`REFINE_TOLERANCE`]), when the residual stops shrinking
/// (the last step is then undone if it made things worse), or after [`MAX_REFINE`] steps. `None`
/// when no step shrank the residual by at least half: the f32 factor is too far from H.
fn refined_solve<R: Recorder>(
    l: MatRef<'_, f32>,
    low: &LowBits,
    y: &[f64],
    par: Par,
    rec: &mut R,
) -> Option<Vec<f64>> {
    let mut alpha = rec.time(Phase::Solve, || solve(l, y, par));
    let mut r = rec.time(Phase::Refine, || residual(l, low, &alpha, y, par));
    let first = max_abs(&r);
    let mut size = first;
    let mut converged = false;
    let mut rate = 1.0f64;
    let mut last_step = f64::INFINITY;
    for _ in 0..MAX_REFINE {
        let delta = rec.time(Phase::Solve, || solve(l, &r, par));
        let step = max_abs(&delta);
        let next: Vec<f64> = alpha.iter().zip(&delta).map(|(a, d)| a + d).collect();
        let scale = max_abs(&next);
        if step.is_finite() && last_step.is_finite() {
            rate = (step / last_step).min(1.0);
        } else if step.is_finite() {
            // The first correction is the error of the f32 solve; the error it leaves behind
            // shrinks by about the same relative amount.
            rate = (step / scale.max(f64::MIN_POSITIVE)).min(1.0);
        }
        if step.is_finite() && rate * step <= REFINE_TOLERANCE * scale {
            alpha = next;
            converged = true;
            break;
        }
        let r_next = rec.time(Phase::Refine, || residual(l, low, &next, y, par));
        let size_next = max_abs(&r_next);
        // Stopped shrinking (or went NaN): keep the α we had.
        if size_next.partial_cmp(&size) != Some(std::cmp::Ordering::Less) {
            break;
        }
        let shrank = size_next / size;
        (alpha, r, size, last_step) = (next, r_next, size_next, step);
        if shrank > 0.5 {
            break;
        }
    }
    ((converged || size <= 0.5 * first) && alpha.iter().all(|a| a.is_finite())).then_some(alpha)
}
