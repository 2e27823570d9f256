//! Mixed precision's residual y − H α in f64, H recomputed from the unit rows one panel at a time.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, Par};
use rayon::prelude::*;

use crate::element::UnitRows;
use crate::simd::dot;
use crate::transform::{kernel_column_cached, NearPairs};
use crate::views::cols_mut;

/// Columns of H recomputed at a time: the scratch is one `k x PANEL` f64 panel, never `k x k`.
pub const PANEL: usize = 256;
/// Rows one task updates at a time when a panel is multiplied into the residual.
const PANEL_ROWS: usize = 512;

/// y − H α with H the float64 kernel of the unit rows, panel by panel of its lower triangle.
///
/// H is built as the float64 path builds it (same Gram, same kernel), except that the
/// near-parallel entries come from `near` (one list per column, found when H was first built)
/// rather than from a second pass over their chords.
///
/// Columns `j0..j0+w` of the lower triangle come from one f64 product of rows `j0..k` with rows
/// `j0..j0+w` (k²d flops over all panels, as the float64 Gram). Each column j adds its entries
/// below the diagonal twice: to (Hα)_j as one fixed-order dot product with α, and to (Hα)_i,
/// i > j, in column order. Every sum runs in an order fixed by the panel width alone, so the
/// thread count cannot change a bit.
pub fn residual(
    rows: &UnitRows,
    near: &[NearPairs],
    alpha: &[f64],
    y: &[f64],
    par: Par,
) -> Vec<f64> {
    let k = rows.len();
    assert!(
        alpha.len() == k && y.len() == k && near.len() == k,
        "residual: vectors of the wrong length"
    );
    let at = rows.at();
    let width = PANEL.min(k).max(1);
    let mut panel = vec![0.0f64; k * width];
    // (Hα)_i = α_i / 2 + Σ_{j<i} H_ij α_j (`left`) + Σ_{j>i} H_ji α_j (`right`).
    let mut left = vec![0.0f64; k];
    let mut right = vec![0.0f64; k];
    for j0 in (0..k).step_by(width) {
        let (w, m) = (width.min(k - j0), k - j0);
        let mut block = MatMut::from_column_major_slice_mut(&mut panel[..m * w], m, w);
        matmul(
            block.as_mut(),
            Accum::Replace,
            at.subcols(j0, m).transpose(),
            at.subcols(j0, w),
            1.0,
            par,
        );
        let column = |(c, (col, r)): (usize, (&mut [f64], &mut f64))| {
            let j = j0 + c;
            kernel_column_cached(&mut col[c..], &near[j]);
            *r = dot(&col[c + 1..], &alpha[j + 1..]);
        };
        let cols = cols_mut(block).zip(&mut right[j0..j0 + w]).enumerate();
        match par {
            Par::Seq => cols.for_each(column),
            _ => cols
                .collect::<Vec<_>>()
                .into_par_iter()
                .with_min_len(8)
                .for_each(column),
        }
        let panel = &panel[..m * w];
        let update = |(chunk_index, chunk): (usize, &mut [f64])| {
            let r0 = chunk_index * PANEL_ROWS;
            for c in 0..w {
                let a = alpha[j0 + c];
                let col = &panel[c * m..(c + 1) * m];
                // Rows strictly below the diagonal of column c, within this chunk.
                let (from, to) = ((c + 1).max(r0), r0 + chunk.len());
                if from >= to {
                    continue;
                }
                for (i, h) in (from..to).zip(&col[from..to]) {
                    chunk[i - r0] += h * a;
                }
            }
        };
        let rows_below = &mut left[j0..];
        match par {
            Par::Seq => rows_below
                .chunks_mut(PANEL_ROWS)
                .enumerate()
                .for_each(update),
            _ => rows_below
                .par_chunks_mut(PANEL_ROWS)
                .enumerate()
                .for_each(update),
        }
    }
    (0..k)
        .map(|i| y[i] - ((0.5 * alpha[i] + left[i]) + right[i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::normalise_rows;
    use crate::gram::kernel_lower_near;
    use crate::gram::tests::{kernel_of, sample};
    use crate::timing::NoTiming;
    use ndarray::ArrayView2;

    #[test]
    fn residual_matches_the_full_kernel_and_ignores_threads() {
        for (k, d) in [(1, 3), (7, 5), (300, 17), (600, 40)] {
            let mut x = sample(k, d, 3);
            // Some near-parallel pairs, whose values come from the cache.
            for r in (5..k).step_by(7) {
                for c in 0..d {
                    x[r * d + c] = x[(r - 5) * d + c] * (1.0 + 1e-3 * (c % 3) as f64);
                }
            }
            let h = kernel_of::<f64>(&x, k, d, Par::Seq);
            let full = |i: usize, j: usize| h[i.min(j) * k + i.max(j)];
            let alpha: Vec<f64> = (0..k).map(|i| ((i * 31 % 17) as f64) / 5.0 - 1.5).collect();
            let y: Vec<f64> = (0..k)
                .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
                .collect();
            let rows =
                normalise_rows(ArrayView2::from_shape((k, d), &x[..]).unwrap(), Par::Seq).unwrap();
            let mut h32 = vec![0.0f32; k * k];
            let near = kernel_lower_near(
                &rows,
                MatMut::from_column_major_slice_mut(&mut h32, k, k),
                true,
                Par::Seq,
                &mut NoTiming,
            )
            .unwrap();
            let got = residual(&rows, &near, &alpha, &y, Par::Seq);
            for i in 0..k {
                let want: f64 = y[i] - (0..k).map(|j| full(i, j) * alpha[j]).sum::<f64>();
                assert!((got[i] - want).abs() < 1e-12 * k as f64, "k={k} i={i}");
            }
            for threads in [2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let par = pool.install(|| residual(&rows, &near, &alpha, &y, Par::rayon(threads)));
                assert_eq!(par, got, "k={k} threads={threads}");
            }
        }
    }
}
