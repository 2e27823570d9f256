//! The element types a block may arrive in, and its rows normalised to unit length in f64.

use faer::{MatRef, Par};
use ndarray::{ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::CoreError;

/// Input element types a block may arrive in.
pub trait Element: Copy + Send + Sync + 'static {
    fn to_f64(self) -> f64;
}

impl Element for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Element for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

/// The `k` rows of a block scaled to unit norm, in f64, stored row after row.
///
/// As a faer matrix the buffer is the column-major `d x k` matrix Aᵀ whose columns are the
/// normalised examples: [`UnitRows::at`].
#[derive(Debug, Clone, PartialEq)]
pub struct UnitRows {
    data: Vec<f64>,
    k: usize,
    d: usize,
}

impl UnitRows {
    /// The number of rows, k.
    pub fn len(&self) -> usize {
        self.k
    }

    /// Whether the block has no rows.
    pub fn is_empty(&self) -> bool {
        self.k == 0
    }

    /// The number of features, d.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Row `i`, unit length.
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    /// The `d x k` matrix whose columns are the rows.
    pub fn at(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.data, self.d, self.k)
    }

    /// Every row after the other, `k * d` values.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }
}

/// 2^-e for the binary exponent e of a positive normal `peak` (peak = m 2^e, 1 <= m < 2),
/// with e limited to what keeps 2^-e a normal number: `peak * power_down(peak)` lies in [1, 4).
fn power_down(peak: f64) -> f64 {
    let e = ((peak.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    f64::from_bits(((1023 - e.clamp(-1022, 1022)) as u64) << 52)
}

/// Copies the rows of `x` into f64 and scales each to unit norm.
///
/// Each row is first multiplied by the power of two that brings its largest value into [1, 4),
/// so that no square underflows (values of 1e-161: the squares are subnormal and the norm was
/// wrong by percents) or overflows (values of 1e160). Scaling by a power of two is exact, so a
/// row multiplied by 2^k (with no value made subnormal on the way) normalises to the same bits,
/// and a row whose squares neither underflow nor overflow to the bits of `v / sqrt(sum v²)`.
///
/// A row of zeros or with a non-finite value is refused with its index.
pub fn normalise_rows<T: Element>(x: ArrayView2<'_, T>, par: Par) -> Result<UnitRows, CoreError> {
    let (k, d) = x.dim();
    if d == 0 {
        return Err(CoreError::Shape("rows have no features".into()));
    }
    let mut data = vec![0.0f64; k * d];
    let work = |(row, (dst, src)): (usize, (&mut [f64], ArrayView1<'_, T>))| {
        let mut peak = 0.0f64;
        let mut finite = true;
        for (d, s) in dst.iter_mut().zip(src.iter()) {
            let v = s.to_f64();
            *d = v;
            finite &= v.is_finite();
            peak = peak.max(v.abs());
        }
        if !finite {
            return Err(CoreError::BadRow {
                row,
                reason: "has a non-finite value",
            });
        }
        if peak == 0.0 {
            return Err(CoreError::BadRow {
                row,
                reason: "has zero norm and cannot be normalised",
            });
        }
        // A subnormal peak is first lifted by 2^600 (exact), then brought to [1, 4).
        let lift = if peak < f64::MIN_POSITIVE {
            2f64.powi(600)
        } else {
            1.0
        };
        let down = power_down(peak * lift);
        let mut sum = 0.0f64;
        for d in dst.iter_mut() {
            *d = *d * lift * down;
            sum += *d * *d;
        }
        // Division rather than a reciprocal multiply: a row that is one value over and over then
        // normalises to exactly ±1/sqrt(d), and parallel rows have cosine exactly ±1.
        let norm = sum.sqrt();
        dst.iter_mut().for_each(|d| *d /= norm);
        Ok(())
    };
    let rows = data.chunks_mut(d).zip(x.axis_iter(Axis(0))).enumerate();
    match par {
        Par::Seq => rows.into_iter().try_for_each(work)?,
        // The first bad row in order, whatever the threads met first: the error names the same
        // row on one thread or many.
        _ => {
            if let Some(Err(e)) = rows
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(work)
                .find_first(Result::is_err)
            {
                return Err(e);
            }
        }
    }
    Ok(UnitRows { data, k, d })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn the_first_bad_row_is_named_on_any_thread_count() {
        // Found by the property test: on two threads the error could name any bad row, so a
        // block's error changed with the threads (and single precision's with double's).
        let (k, d) = (4000, 3);
        let mut values = vec![1.0f64; k * d];
        for row in [999, 1000, 2000, 3000, 3999] {
            values[row * d + 1] = f64::INFINITY;
        }
        let x = Array2::from_shape_vec((k, d), values).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        for _ in 0..200 {
            let err = pool
                .install(|| normalise_rows(x.view(), Par::rayon(4)))
                .unwrap_err();
            assert!(matches!(err, CoreError::BadRow { row: 999, .. }), "{err:?}");
        }
    }

    #[test]
    fn normalise_rejects_zero_and_nan_rows() {
        let x = Array2::from_shape_vec((2, 2), vec![1.0, 2.0, 0.0, 0.0]).unwrap();
        assert_eq!(
            normalise_rows(x.view(), Par::Seq).unwrap_err(),
            CoreError::BadRow {
                row: 1,
                reason: "has zero norm and cannot be normalised"
            }
        );
        let x = Array2::from_shape_vec((1, 2), vec![1.0, f64::NAN]).unwrap();
        assert!(matches!(
            normalise_rows(x.view(), Par::Seq),
            Err(CoreError::BadRow { row: 0, .. })
        ));
        let x = Array2::<f32>::zeros((3, 0));
        assert!(matches!(
            normalise_rows(x.view(), Par::Seq),
            Err(CoreError::Shape(_))
        ));
    }

    #[test]
    fn a_row_scaled_by_a_power_of_two_normalises_to_the_same_bits() {
        let x = Array2::from_shape_fn((1, 7), |(_, j)| (j as f64 * 0.37).sin() + 0.1);
        let unit = normalise_rows(x.view(), Par::Seq).unwrap();
        for k in [-1000, -535, -1, 1, 535, 1000] {
            let scaled = x.mapv(|v| v * 2f64.powi(k));
            assert_eq!(
                normalise_rows(scaled.view(), Par::Seq).unwrap(),
                unit,
                "2^{k}"
            );
        }
        let tiny = x.mapv(|v| v * 1e-161);
        let got = normalise_rows(tiny.view(), Par::Seq).unwrap();
        let norm: f64 = got.row(0).iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-15, "norm {norm}");
    }

    #[test]
    fn ordinary_rows_keep_the_bits_of_the_plain_formula() {
        let x = Array2::from_shape_fn((40, 13), |(i, j)| ((i * 13 + j) as f64 * 0.731).sin() * 3.0);
        let unit = normalise_rows(x.view(), Par::Seq).unwrap();
        for (i, row) in x.outer_iter().enumerate() {
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            let plain: Vec<f64> = row.iter().map(|v| v / norm).collect();
            assert_eq!(unit.row(i), &plain[..], "row {i}");
        }
    }

    #[test]
    fn subnormal_and_largest_rows_normalise() {
        let x = Array2::from_shape_vec((1, 3), vec![3.0, -4.0, 0.0]).unwrap();
        let sub = x.mapv(|v| v * f64::from_bits(1));
        assert_eq!(
            normalise_rows(sub.view(), Par::Seq).unwrap(),
            normalise_rows(x.view(), Par::Seq).unwrap()
        );
        let big = Array2::from_shape_vec((1, 2), vec![f64::MAX, -f64::MAX]).unwrap();
        let unit = normalise_rows(big.view(), Par::Seq).unwrap();
        assert_eq!(unit.row(0), &[1.0 / 2f64.sqrt(), -1.0 / 2f64.sqrt()]);
    }

    #[test]
    fn f32_input_is_widened_before_use() {
        let x64 = Array2::from_shape_fn((9, 4), |(i, j)| ((i * 7 + j * 3) % 5) as f64 - 1.7);
        let x32 = x64.mapv(|v| v as f32);
        let widened = x32.mapv(f64::from);
        assert_eq!(
            normalise_rows(x32.view(), Par::Seq).unwrap(),
            normalise_rows(widened.view(), Par::rayon(2)).unwrap()
        );
    }

    #[test]
    fn strided_input_is_read_row_by_row() {
        let x = Array2::from_shape_fn((6, 5), |(i, j)| (i * 5 + j) as f64 + 1.0);
        let t = x.t().to_owned();
        let strided = t.t();
        assert_eq!(
            normalise_rows(strided, Par::Seq).unwrap(),
            normalise_rows(x.view(), Par::Seq).unwrap()
        );
    }
}
