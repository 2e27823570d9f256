//! The lower triangle of H for a block's unit rows, in its storage type: one triangle of their
//! Gram, then the transform.

use faer::linalg::matmul::triangular::{matmul, BlockStructure};
use faer::{Accum, MatMut, MatRef, Par};

use crate::element::UnitRows;
use crate::error::CoreError;
use crate::real::Real;
use crate::timing::{Phase, Recorder};
use crate::transform::transform_lower;

/// Writes the lower triangle (diagonal included) of U = X Xᵀ into `h`, in `E`'s arithmetic.
///
/// `at` is the `d x k` matrix whose columns are the unit rows; `h` is a column-major `k x k`
/// view whose strict upper triangle is left untouched. Each entry's sum over the d features runs
/// in an order set by d alone, never by the thread count or by which rows share the block (the
/// kernel cache relies on it: `block::tests`).
pub fn gram_lower<E: Real>(at: MatRef<'_, E>, h: MatMut<'_, E>, par: Par) {
    matmul(
        h,
        BlockStructure::TriangularLower,
        Accum::Replace,
        at.transpose(),
        BlockStructure::Rectangular,
        at,
        BlockStructure::Rectangular,
        E::narrow(1.0),
        par,
    );
}

/// Builds the lower triangle of H for the unit rows into `h`, a column-major `k x k` view in the
/// block's storage type: in f32, the Gram of the unit rows rounded to f32, in f32 arithmetic, and
/// the chords of near-parallel pairs from those rows.
pub fn kernel_lower<E: Real, R: Recorder>(
    rows: &UnitRows,
    mut h: MatMut<'_, E>,
    par: Par,
    rec: &mut R,
) -> Result<(), CoreError> {
    let k = rows.len();
    if h.nrows() != k || h.ncols() != k {
        return Err(CoreError::Shape(format!(
            "H is {} x {}, a block of {k} rows needs {k} x {k}",
            h.nrows(),
            h.ncols()
        )));
    }
    let d = rows.dim();
    let unit = rec.time(Phase::Normalise, || E::narrow_slice(rows.as_slice(), par));
    rec.time(Phase::Gram, || {
        gram_lower(
            MatRef::from_column_major_slice(&unit, d, k),
            h.as_mut(),
            par,
        )
    });
    rec.time(Phase::Transform, || transform_lower(h, &unit, d, par));
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::element::normalise_rows;
    use crate::timing::NoTiming;
    use ndarray::ArrayView2;

    pub(crate) fn sample(k: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..k * d)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.3
            })
            .collect()
    }

    /// The lower triangle of H of the `k x d` row-major `x`, column-major.
    pub(crate) fn kernel_of(x: &[f64], k: usize, d: usize, par: Par) -> Vec<f64> {
        let rows = normalise_rows(ArrayView2::from_shape((k, d), x).unwrap(), par).unwrap();
        let mut h = vec![0.0; k * k];
        kernel_lower(
            &rows,
            MatMut::from_column_major_slice_mut(&mut h, k, k),
            par,
            &mut NoTiming,
        )
        .unwrap();
        h
    }

    fn naive_h(x: &[f64], k: usize, d: usize) -> Vec<f64> {
        let rows: Vec<Vec<f64>> = x
            .chunks(d)
            .map(|r| {
                let n = r.iter().map(|v| v * v).sum::<f64>().sqrt();
                r.iter().map(|v| v / n).collect()
            })
            .collect();
        let mut h = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                let u: f64 = rows[i].iter().zip(&rows[j]).map(|(a, b)| a * b).sum();
                let u = u.clamp(-1.0, 1.0);
                h[i * k + j] = if i == j {
                    0.5
                } else {
                    u * (std::f64::consts::PI - u.acos()) / (2.0 * std::f64::consts::PI)
                };
            }
        }
        h
    }

    #[test]
    fn lower_triangle_matches_definition() {
        for (k, d) in [(1, 1), (2, 3), (7, 5), (13, 1), (64, 17), (131, 40)] {
            let x = sample(k, d, k as u64);
            let want = naive_h(&x, k, d);
            for par in [Par::Seq, Par::rayon(2)] {
                let h = kernel_of(&x, k, d, par);
                for j in 0..k {
                    for i in j..k {
                        let err = (h[j * k + i] - want[i * k + j]).abs();
                        assert!(err < 1e-14, "k={k} d={d} ({i},{j}) err {err:e}");
                    }
                    assert_eq!(h[j * k + j], 0.5);
                }
            }
        }
    }

    /// Six rows of seven, row 3 a copy of row 0; rows whose dot product with themselves does not
    /// round to exactly 1.
    pub(crate) fn rows_with_a_duplicate() -> (Vec<f64>, usize, usize) {
        let (k, d) = (6, 7);
        let mut x = sample(k, d, 11);
        let copy: Vec<f64> = x[..d].to_vec();
        x[3 * d..4 * d].copy_from_slice(&copy);
        (x, k, d)
    }

    #[test]
    fn duplicate_rows_give_exactly_equal_columns() {
        let (x, k, d) = rows_with_a_duplicate();
        let h = kernel_of(&x, k, d, Par::Seq);
        // The lower triangle is column-major: entry (r, c), r >= c, sits at c * k + r.
        let at = |r: usize, c: usize| h[r.min(c) * k + r.max(c)];
        assert_eq!(at(3, 0), 0.5, "H[3, 0] of a duplicate pair");
        for i in [1, 2, 4, 5] {
            assert_eq!(at(i, 0), at(i, 3), "row {i}");
        }
    }

    #[test]
    fn duplicate_rows_give_exactly_equal_columns_in_f32() {
        // The chord of two equal f32 rows is exactly 0, so H is exactly singular in f32 too
        // (and the block goes to float64, which takes the ridge).
        let (x, k, d) = rows_with_a_duplicate();
        let rows = normalise_rows(ArrayView2::from_shape((k, d), &x[..]).unwrap(), Par::Seq);
        let mut h = vec![0.0f32; k * k];
        kernel_lower(
            &rows.unwrap(),
            MatMut::from_column_major_slice_mut(&mut h, k, k),
            Par::Seq,
            &mut NoTiming,
        )
        .unwrap();
        let at = |r: usize, c: usize| h[r.min(c) * k + r.max(c)];
        assert_eq!(at(3, 0), 0.5, "H[3, 0] of a duplicate pair");
        for i in [1, 2, 4, 5] {
            assert_eq!(at(i, 0).to_bits(), at(i, 3).to_bits(), "row {i}");
        }
    }
}
