//! Mixed precision's residual y − H α in f64, H read from the f32 copy above the diagonal and its
//! low bits.

use faer::{MatRef, Par};
use rayon::prelude::*;

use crate::panel::{LowBits, LOW_UNIT};
use crate::simd::{dispatch, Simd};
use crate::views::col;

/// Rows one task sums at a time for the part of H α right of the diagonal.
const ROWS: usize = 512;

/// The f64 entry of H from its f32 part and low bits (the scaling is exact, one rounding).
#[inline(always)]
fn entry(high: f32, low: i16) -> f64 {
    f64::from(high) + f64::from(low) * LOW_UNIT
}

/// `Σ H_i b_i` over one column's entries above the diagonal, in eight interleaved partial sums.
struct Above<'a>(&'a [f32], &'a [i16], &'a [f64]);

impl Simd for Above<'_> {
    type Output = f64;
    #[inline(always)]
    fn run(self) -> f64 {
        let Above(high, low, b) = self;
        let mut acc = [0.0f64; 8];
        let n = b.len() / 8 * 8;
        for c in (0..n).step_by(8) {
            for lane in 0..8 {
                acc[lane] += entry(high[c + lane], low[c + lane]) * b[c + lane];
            }
        }
        let mut sum =
            ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for c in n..b.len() {
            sum += entry(high[c], low[c]) * b[c];
        }
        sum
    }
}

/// `out_i += H_i a` over a stretch of one column.
struct Axpy<'a>(&'a mut [f64], &'a [f32], &'a [i16], f64);

impl Simd for Axpy<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let Axpy(out, high, low, a) = self;
        for ((o, &h), &l) in out.iter_mut().zip(high).zip(low) {
            *o += entry(h, l) * a;
        }
    }
}

/// y − H α, with H symmetric, its diagonal 1/2 and its entries above the diagonal in the strict
/// upper triangle of the column-major `h` (in f32) and in `low` (what f32 dropped). The lower
/// triangle may hold anything, such as the factor.
///
/// `(Hα)_i = α_i / 2 + Σ_{j<i} H_ji α_j + Σ_{j>i} H_ij α_j`: the first sum is a fixed-order dot
/// product of column i with α, the second runs over the columns right of row i in column order,
/// for row chunks of a fixed size. Everything is in f64 and runs in an order fixed by the sizes
/// alone, so the thread count cannot change a bit. Each entry is read twice: `6k²` bytes, no
/// flops to speak of next to the factorisation.
pub fn residual(h: MatRef<'_, f32>, low: &LowBits, alpha: &[f64], y: &[f64], par: Par) -> Vec<f64> {
    let k = h.nrows();
    assert!(
        h.ncols() == k && alpha.len() == k && y.len() == k,
        "residual: shapes do not match"
    );
    let above = |i: usize| dispatch(Above(&col(h, i)[..i], low.column(i), &alpha[..i]));
    let right = |(chunk, out): (usize, &mut [f64])| {
        let r0 = chunk * ROWS;
        for (j, &a) in alpha.iter().enumerate().skip(r0 + 1) {
            let to = j.min(r0 + out.len());
            let (high, low) = (&col(h, j)[r0..to], &low.column(j)[r0..to]);
            dispatch(Axpy(&mut out[..to - r0], high, low, a));
        }
    };
    let mut sums = vec![0.0f64; k];
    let columns: Vec<f64> = match par {
        Par::Seq => {
            sums.chunks_mut(ROWS).enumerate().for_each(right);
            (0..k).map(above).collect()
        }
        _ => {
            sums.par_chunks_mut(ROWS).enumerate().for_each(right);
            (0..k).into_par_iter().with_min_len(64).map(above).collect()
        }
    };
    (0..k)
        .map(|i| y[i] - ((0.5 * alpha[i] + columns[i]) + sums[i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::normalise_rows;
    use crate::gram::tests::{kernel_of, sample};
    use crate::panel::kernel_f32;
    use crate::timing::NoTiming;
    use faer::MatMut;
    use ndarray::ArrayView2;

    #[test]
    fn residual_is_taken_against_the_double_kernel_and_ignores_threads() {
        for (k, d) in [(1, 3), (7, 5), (300, 17), (513, 9), (1100, 40)] {
            let x = sample(k, d, 3);
            let double = kernel_of(&x, k, d, Par::Seq);
            let full = |i: usize, j: usize| double[i.min(j) * k + i.max(j)];
            let rows =
                normalise_rows(ArrayView2::from_shape((k, d), &x[..]).unwrap(), Par::Seq).unwrap();
            let mut h = vec![f32::NAN; k * k];
            let low = kernel_f32(
                &rows,
                MatMut::from_column_major_slice_mut(&mut h, k, k),
                Par::Seq,
                &mut NoTiming,
            )
            .unwrap();
            // The lower triangle may hold anything.
            for j in 0..k {
                for i in j..k {
                    h[j * k + i] = f32::NAN;
                }
            }
            let view = MatRef::from_column_major_slice(&h, k, k);
            let alpha: Vec<f64> = (0..k).map(|i| ((i * 31 % 17) as f64) / 5.0 - 1.5).collect();
            let y: Vec<f64> = (0..k)
                .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
                .collect();
            let got = residual(view, &low, &alpha, &y, Par::Seq);
            for i in 0..k {
                let want: f64 = y[i] - (0..k).map(|j| full(i, j) * alpha[j]).sum::<f64>();
                // Each entry is within 2⁻⁴⁰ (9.1e-13) of the f64 kernel's and |α_j| ≤ 1.7.
                assert!((got[i] - want).abs() < 1.6e-12 * k as f64, "k={k} i={i}");
            }
            for threads in [2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let many = pool.install(|| residual(view, &low, &alpha, &y, Par::rayon(threads)));
                let same = got
                    .iter()
                    .zip(&many)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "k={k}: residual differs on {threads} threads");
            }
        }
    }
}
