//! H = L Lᵀ in place, with a ridge added when H is numerically singular.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::{MatMut, MatRef, Par};

use crate::error::CoreError;
use crate::real::Real;
use crate::timing::{Phase, Recorder};
use crate::views::{col, col_mut};

/// A pivot L_ii² below this times mean(diag H) (or below `k · ε` times it, if larger) counts as
/// singular. Two rows at an angle θ give a pivot near θ/π. Below θ ≈ 1e-9 rad float64 cannot
/// resolve the pair: rounding H's entries to the nearest float64, and nothing else, already
/// moves the pair's scores by orders of magnitude (measured against 60-digit arithmetic on the
/// same inputs). Such rows are duplicates for all float64 can tell, and are scored as such,
/// with a ridge. Real data sit far above: the smallest pivot of scikit-learn's digits is 0.02.
pub const SINGULAR_PIVOT: f64 = 5e-10;
/// The first ridge tried, relative to mean(diag H), once H is singular: it lifts the pivot of an
/// exact duplicate to at least itself, above [`SINGULAR_PIVOT`].
pub const FIRST_RIDGE: f64 = 1e-9;
/// The largest ridge tried, relative to mean(diag H), before giving up.
pub const MAX_RIDGE: f64 = 1e-6;

fn mean_diag<E: Real>(h: MatRef<'_, E>) -> f64 {
    let k = h.nrows();
    (0..k).map(|j| col(h, j)[j].to_f64()).sum::<f64>() / k as f64
}

/// Factors the lower triangle of the `k x k` view `h` in place, in `E`'s arithmetic. False when a
/// pivot L_ii² falls below `E::SINGULAR_PIVOT` (or `k · ε`) times mean(diag H): on failure `h`
/// holds garbage.
pub fn cholesky_lower<E: Real>(mut h: MatMut<'_, E>, par: Par) -> bool {
    let k = h.nrows();
    let floor = E::SINGULAR_PIVOT.max(k as f64 * E::EPS) * mean_diag(h.as_ref());
    let mut buf = MemBuffer::new(cholesky_in_place_scratch::<E>(k, par, Default::default()));
    let ok = cholesky_in_place(
        h.as_mut(),
        Default::default(),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .is_ok();
    ok && {
        (0..k).all(|j| {
            let pivot = col(h.as_ref(), j)[j].to_f64();
            pivot.is_finite() && pivot * pivot > floor
        })
    }
}

/// Factors H = L Lᵀ in place, adding a ridge when H is numerically singular.
///
/// `build` writes the lower triangle of H into the view; it is called again before each ridge
/// retry, since a failed factorisation destroys H. `accept` sees the factor and may reject it
/// (for example when a quantity derived from it is not finite), which moves to the next ridge.
/// Both get the recorder, to time their own phases. Returns the relative ridge used (0 when none).
pub fn factor_with_ridge<R: Recorder>(
    mut h: MatMut<'_, f64>,
    par: Par,
    mut build: impl FnMut(MatMut<'_, f64>, &mut R) -> Result<(), CoreError>,
    mut accept: impl FnMut(MatRef<'_, f64>, &mut R) -> bool,
    rec: &mut R,
) -> Result<f64, CoreError> {
    let k = h.nrows();
    build(h.as_mut(), rec)?;
    let scale = mean_diag(h.as_ref());
    let mut ridge = 0.0;
    loop {
        if ridge > 0.0 {
            build(h.as_mut(), rec)?;
            let add = ridge * scale;
            (0..k).for_each(|j| col_mut(h.as_mut(), j)[j] += add);
        }
        let factored = rec.time(Phase::Cholesky, || cholesky_lower(h.as_mut(), par));
        if factored && accept(h.as_ref(), rec) {
            return Ok(ridge);
        }
        ridge = if ridge == 0.0 {
            FIRST_RIDGE
        } else {
            ridge * 10.0
        };
        if ridge > MAX_RIDGE * 1.000_001 {
            return Err(CoreError::NotPositiveDefinite {
                max_ridge: MAX_RIDGE,
            });
        }
    }
}
