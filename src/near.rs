//! Near-parallel pairs of rows: their kernel value from the chord between them, not the cosine.

use crate::arccos::{asin, FRAC_1_2PI};
use crate::real::Real;

/// Pairs whose |cosine| exceeds this get their kernel value from the angle itself (see
/// [`kernel_near_parallel`]) rather than from the cosine. The kernel's slope grows like
/// 1/sqrt(1 − |u|) as |u| → 1 (arccos' infinite slope), so the rounding of a dot product near ±1
/// (1e-16) would become an error of up to 1e-8 in H, enough to swamp
/// the near-null direction that near-duplicate rows give H. Such pairs are few in most data
/// and cost one O(d) pass each.
pub const NEAR_PARALLEL: f64 = 0.995;

/// H for unit rows `a`, `b` whose cosine `u` is close to ±1, accurate to rounding in the angle.
///
/// The chord `s = ‖a − sign(u) b‖` is computed directly, so it keeps full relative precision
/// however small it is; the angle between `a` and `sign(u) b` is `φ = 2 asin(s/2)` with cosine
/// `1 − s²/2`. Then `H = cos φ (π − φ) / (2π)` for u > 0 and `−cos φ · φ / (2π)` for u < 0.
/// Exact duplicates give exactly 1/2 (and exact opposites exactly 0), so H is exactly singular
/// and the ridge fallback sees it. The sum runs in a fixed order: the same bits on every machine.
/// The rows are in the block's storage type: an f32 block's chords come from its f32 rows.
pub fn kernel_near_parallel<E: Real>(a: &[E], b: &[E], u: f64) -> f64 {
    let sign = if u < 0.0 { -1.0 } else { 1.0 };
    let s2 = E::chord_squared(a, b, sign);
    let phi = 2.0 * asin((0.5 * s2.sqrt()).min(1.0));
    let cos_phi = 1.0 - 0.5 * s2;
    if sign > 0.0 {
        cos_phi * (std::f64::consts::PI - phi) * FRAC_1_2PI
    } else {
        -cos_phi * phi * FRAC_1_2PI
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_parallel_pairs_keep_their_angle() {
        use std::f64::consts::PI;
        for theta in [0.0f64, 1e-14, 1e-10, 1e-6, 1e-3, 0.09] {
            let (s, c) = theta.sin_cos();
            // a and b in 3-D, rotated so that neither is an axis: the dot product rounds.
            let a = [0.6, 0.8, 0.0];
            let b = [0.6 * c - 0.8 * s, 0.8 * c + 0.6 * s, 0.0];
            let want = c * (PI - theta) / (2.0 * PI);
            let got = kernel_near_parallel(&a, &b, c);
            assert!(
                (got - want).abs() <= 4e-16,
                "theta={theta:e}: {got} vs {want}"
            );
            // Opposite rows: angle π − θ, H = cos(π − θ) θ / (2π) = −cos θ · θ / (2π).
            let nb: Vec<f64> = b.iter().map(|v| -v).collect();
            let want = -c * theta / (2.0 * PI);
            let got = kernel_near_parallel(&a, &nb, -c);
            assert!(
                (got - want).abs() <= 4e-16,
                "theta={theta:e}: {got} vs {want}"
            );
        }
        let row = [0.1, -0.7, 0.3, 0.2, 0.5, -0.1, 0.3, 0.1, 0.05];
        assert_eq!(kernel_near_parallel(&row, &row, 1.0), 0.5);
        let neg: Vec<f64> = row.iter().map(|v| -v).collect();
        assert_eq!(kernel_near_parallel(&row, &neg, -1.0), 0.0);
    }
}
