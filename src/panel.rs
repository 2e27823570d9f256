//! Mixed precision: the lower triangle of H from f32 inner products, one column panel at a time.

use faer::{Accum, MatMut, Par};
use rayon::prelude::*;

use crate::element::UnitRows;
use crate::timing::{Phase, Recorder};
use crate::transform::{kernel_column, Cosines};
use crate::views::cols_mut;

/// Columns of the f32 Gram computed at a time: the only scratch beyond H is one
/// `k x MIXED_PANEL` f32 panel.
pub const MIXED_PANEL: usize = 256;

/// The lower triangle of H into the `k x k` view `h`, from f32 inner products of the unit rows.
///
/// Each panel is the rectangular product of rows `j0..k` with rows `j0..j0+w` (the few entries
/// above the diagonal of its top square are computed and ignored), then widened and transformed
/// straight into H by [`kernel_column`]: no `k x k` f32 matrix ever exists. Near-parallel pairs
/// get their value from the f64 rows, as in the f64 path.
pub fn kernel_lower_mixed<R: Recorder>(
    rows: &UnitRows,
    mut h: MatMut<'_, f64>,
    par: Par,
    rec: &mut R,
) {
    let k = rows.len();
    let d = rows.dim();
    let x32: Vec<f32> = rows.as_slice().iter().map(|&v| v as f32).collect();
    let at = faer::MatRef::from_column_major_slice(&x32, d, k);
    let width = MIXED_PANEL.min(k);
    let mut panel = vec![0.0f32; k * width];
    for j0 in (0..k).step_by(width.max(1)) {
        let w = width.min(k - j0);
        let m = k - j0;
        rec.time(Phase::Gram, || {
            faer::linalg::matmul::matmul(
                MatMut::from_column_major_slice_mut(&mut panel[..m * w], m, w),
                Accum::Replace,
                at.subcols(j0, m).transpose(),
                at.subcols(j0, w),
                1.0f32,
                par,
            )
        });
        let cols = cols_mut(h.as_mut().subcols_mut(j0, w)).zip(panel[..m * w].chunks(m));
        let transform = |(c, (col, src)): (usize, (&mut [f64], &[f32]))| {
            kernel_column(col, j0 + c, Cosines::Widen(&src[c + 1..]), rows)
        };
        rec.time(Phase::Transform, || match par {
            Par::Seq => cols.enumerate().for_each(transform),
            _ => cols
                .enumerate()
                .collect::<Vec<_>>()
                .into_par_iter()
                .with_min_len(8)
                .for_each(transform),
        });
    }
}
