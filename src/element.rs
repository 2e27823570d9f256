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

/// Copies the rows of `x` into f64 and scales each to unit norm.
///
/// A row of zero norm, with a non-finite value, or whose squared norm overflows is refused with
/// its index.
pub fn normalise_rows<T: Element>(x: ArrayView2<'_, T>, par: Par) -> Result<UnitRows, CoreError> {
    let (k, d) = x.dim();
    if d == 0 {
        return Err(CoreError::Shape("rows have no features".into()));
    }
    let mut data = vec![0.0f64; k * d];
    let work = |(row, (dst, src)): (usize, (&mut [f64], ArrayView1<'_, T>))| {
        let mut sum = 0.0f64;
        for (d, s) in dst.iter_mut().zip(src.iter()) {
            let v = s.to_f64();
            *d = v;
            sum += v * v;
        }
        if !sum.is_finite() {
            return Err(CoreError::BadRow {
                row,
                reason: "has a non-finite value (or overflows when squared)",
            });
        }
        if sum == 0.0 {
            return Err(CoreError::BadRow {
                row,
                reason: "has zero norm and cannot be normalised",
            });
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
        _ => rows
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(work)
            .collect::<Result<(), _>>()?,
    }
    Ok(UnitRows { data, k, d })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

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
