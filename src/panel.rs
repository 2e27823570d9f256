//! Mixed precision's H: the float64 kernel, built one panel of columns at a time, split into f32
//! and the low bits f32 drops. A copy stays above the diagonal while the lower triangle is
//! factorised.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::element::UnitRows;
use crate::error::CoreError;
use crate::timing::{Phase, Recorder};
use crate::transform::kernel_column;
use crate::views::{col, col_mut, cols_mut};

/// Columns of H computed at a time: the scratch is one `k x PANEL` f64 panel, never `k x k`.
pub const PANEL: usize = 256;
/// Columns of H one task stores from the panel at a time.
const TILE: usize = 64;

/// Entries above the diagonal, up to this far from it, that [`UpperBand`] saves and restores.
///
/// faer's Cholesky, which otherwise works in the lower triangle only, uses the upper triangle next
/// to its diagonal as scratch: its unblocked kernel runs on diagonal blocks of at most 64 columns
/// and writes batches of rows that start above the diagonal (31 rows at most for f32 with AVX2,
/// 63 with AVX-512). `the_factorisation_leaves_the_upper_triangle_alone` checks that nothing
/// farther out than this is written, in f32 and f64, on 1 and 2 threads.
pub const BAND: usize = 128;

/// The entries of a `k x k` view in the strict upper triangle less than [`BAND`] from the diagonal.
pub struct UpperBand {
    /// Column i's entries in rows `i − BAND.min(i)..i`, columns one after another.
    values: Vec<f32>,
}

impl UpperBand {
    /// Copies the band out of `h`.
    pub fn save(h: MatRef<'_, f32>) -> Self {
        let values = (0..h.ncols())
            .flat_map(|i| &col(h, i)[i - BAND.min(i)..i])
            .copied()
            .collect();
        UpperBand { values }
    }

    /// Writes the band back into `h`, over whatever the factorisation left there.
    pub fn restore(&self, mut h: MatMut<'_, f32>) {
        let mut at = 0;
        for i in 0..h.ncols() {
            let above = &mut col_mut(h.as_mut(), i)[i - BAND.min(i)..i];
            above.copy_from_slice(&self.values[at..at + above.len()]);
            at += above.len();
        }
    }
}

/// The unit of [`LowBits`]: 2⁻⁴⁰.
pub const LOW_UNIT: f64 = 1.0 / (1u64 << 40) as f64;

/// What rounding H to f32 drops, `H − f32(H)`, above the diagonal, as an integer number of
/// [`LOW_UNIT`]s: `f32(H) + low · 2⁻⁴⁰` is H to within 2⁻⁴⁰ (9.1e-13). Every |H| ≤ 1/2, so
/// f32(H) is at most 2⁻²⁶ off and `low` fits an i16 (|low| ≤ 2¹⁴).
/// Two bytes per entry above the diagonal: `k²` bytes in all, next to the f32 H's `4k²`.
pub struct LowBits {
    /// Column i's rows `0..i`, columns one after another.
    values: Vec<i16>,
}

impl LowBits {
    fn zeros(k: usize) -> Self {
        LowBits {
            values: vec![0; k * k.saturating_sub(1) / 2],
        }
    }

    fn start(i: usize) -> usize {
        i * i.saturating_sub(1) / 2
    }

    /// Column i's low bits in rows `0..i`.
    pub fn column(&self, i: usize) -> &[i16] {
        &self.values[Self::start(i)..Self::start(i) + i]
    }

    /// Columns `from..k` of a `k x k` matrix, each a slice of its rows above the diagonal.
    fn columns_mut(&mut self, from: usize) -> Vec<&mut [i16]> {
        let mut rest = &mut self.values[Self::start(from)..];
        let mut out = Vec::new();
        for i in from.. {
            if rest.len() < i {
                break;
            }
            let (column, tail) = rest.split_at_mut(i);
            out.push(column);
            rest = tail;
        }
        out
    }
}

/// One column of H being stored: its f32 entries and its low bits above the diagonal.
type Column<'a> = (&'a mut [f32], &'a mut [i16]);

/// `v` as f32 and the low bits f32 drops, in [`LOW_UNIT`]s (for |v| ≤ 1/2: see [`LowBits`]).
fn split(v: f64) -> (f32, i16) {
    let high = v as f32;
    // v − high is exact in f64, and so is the scaling by a power of two; the cast truncates.
    (high, ((v - f64::from(high)) / LOW_UNIT) as i16)
}

/// Writes H, the float64 kernel of the unit rows rounded once to f32, into both triangles of the
/// column-major `k x k` view `h`, and returns the low bits of the upper one; the diagonal is exactly
/// 1/2.
///
/// Columns `j0..j0+w` of H come from one f64 product of rows `j0..k` with rows `j0..j0+w` (k²d
/// flops over all panels, as the float64 Gram) and the f64 kernel of every path (near-parallel
/// pairs from their chord). The lower triangle is for the factorisation, which works in place
/// and leaves the strict upper triangle alone but for a band ([`UpperBand`]): that copy of H,
/// with its low bits, is the float64 kernel the refinement's residual is taken against
/// ([`crate::residual`]). Each value is one f64 rounded to f32, so the thread count cannot
/// change a bit.
pub fn kernel_f32<R: Recorder>(
    rows: &UnitRows,
    mut h: MatMut<'_, f32>,
    par: Par,
    rec: &mut R,
) -> Result<LowBits, CoreError> {
    let k = rows.len();
    if h.nrows() != k || h.ncols() != k {
        return Err(CoreError::Shape(format!(
            "H is {} x {}, a block of {k} rows needs {k} x {k}",
            h.nrows(),
            h.ncols()
        )));
    }
    let at = rows.at();
    let width = PANEL.min(k).max(1);
    let mut scratch = vec![0.0f64; k * width];
    let mut low = LowBits::zeros(k);
    for j0 in (0..k).step_by(width) {
        let (w, m) = (width.min(k - j0), k - j0);
        let panel = &mut scratch[..m * w];
        let mut block = MatMut::from_column_major_slice_mut(panel, m, w);
        rec.time(Phase::Gram, || {
            matmul(
                block.as_mut(),
                Accum::Replace,
                at.subcols(j0, m).transpose(),
                at.subcols(j0, w),
                1.0,
                par,
            )
        });
        rec.time(Phase::Transform, || {
            let unit = rows.as_slice();
            let d = rows.dim();
            let column =
                |(c, col): (usize, &mut [f64])| kernel_column(&mut col[c..], j0 + c, unit, d);
            match par {
                Par::Seq => cols_mut(block).enumerate().for_each(column),
                _ => cols_mut(block)
                    .enumerate()
                    .collect::<Vec<_>>()
                    .into_par_iter()
                    .with_min_len(8)
                    .for_each(column),
            }
        });
        let panel = &scratch[..m * w];
        // Column i of H (i >= j0) takes, from panel column i − j0, its entries from the diagonal
        // down (when i < j0 + w) and, from panel row i − j0, its entries in rows j0..i above the
        // diagonal. Those are written a tile of columns at a time, row after row: each read is a
        // contiguous stretch of a panel column, and the tile's columns stay in cache.
        let store = |(t, tile): (usize, &mut [Column<'_>])| {
            let c0 = t * TILE;
            for (c, (col, _)) in (c0..w).zip(tile.iter_mut()) {
                let down = &panel[c * m + c..(c + 1) * m];
                for (h, v) in col[j0 + c..].iter_mut().zip(down) {
                    *h = *v as f32;
                }
            }
            for r in 0..w.min(c0 + tile.len()) {
                let first = (r + 1).saturating_sub(c0);
                let source = &panel[r * m + c0 + first..r * m + c0 + tile.len()];
                for ((col, low), &v) in tile[first..].iter_mut().zip(source) {
                    (col[j0 + r], low[j0 + r]) = split(v);
                }
            }
        };
        rec.time(Phase::Transform, || {
            let cols = h.as_mut().subcols_mut(j0, m);
            let mut pairs: Vec<_> = cols_mut(cols).zip(low.columns_mut(j0)).collect();
            match par {
                Par::Seq => pairs.chunks_mut(TILE).enumerate().for_each(store),
                _ => pairs.par_chunks_mut(TILE).enumerate().for_each(store),
            }
        });
    }
    Ok(low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::normalise_rows;
    use crate::gram::tests::{kernel_of, rows_with_a_duplicate, sample};
    use crate::timing::NoTiming;
    use ndarray::ArrayView2;

    fn mixed_h(x: &[f64], k: usize, d: usize, threads: usize) -> (Vec<f32>, LowBits) {
        let rows = normalise_rows(ArrayView2::from_shape((k, d), x).unwrap(), Par::Seq).unwrap();
        let mut h = vec![f32::NAN; k * k];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let par = if threads == 1 {
            Par::Seq
        } else {
            Par::rayon(threads)
        };
        let low = pool
            .install(|| {
                kernel_f32(
                    &rows,
                    MatMut::from_column_major_slice_mut(&mut h, k, k),
                    par,
                    &mut NoTiming,
                )
            })
            .unwrap();
        (h, low)
    }

    #[test]
    fn both_triangles_hold_the_double_kernel_and_the_low_bits_what_f32_drops() {
        // Sizes below, at and across panel edges; near-parallel pairs, whose values come from
        // their chord in f64.
        for (k, d) in [(1, 3), (7, 5), (256, 9), (300, 17), (600, 40)] {
            let mut x = sample(k, d, 3);
            for r in (5..k).step_by(7) {
                for c in 0..d {
                    x[r * d + c] = x[(r - 5) * d + c] * (1.0 + 1e-4 * (c % 3) as f64);
                }
            }
            let double = kernel_of(&x, k, d, Par::Seq);
            let (h, low) = mixed_h(&x, k, d, 1);
            for j in 0..k {
                assert_eq!(h[j * k + j], 0.5, "k={k}: diagonal");
                for i in j + 1..k {
                    let want = double[j * k + i];
                    // Half an ulp of f32 below 1/2, and the f64 Grams' own rounding.
                    let lower = (f64::from(h[j * k + i]) - want).abs();
                    assert!(lower <= 3e-8, "k={k} H[{i},{j}] off by {lower:e}");
                    assert_eq!(h[i * k + j], h[j * k + i], "k={k}: H[{j},{i}] ≠ H[{i},{j}]");
                    // With the low bits: 2⁻⁴⁰, and the two f64 Grams' rounding (~1e-16 here).
                    let whole = f64::from(h[i * k + j]) + f64::from(low.column(i)[j]) * LOW_UNIT;
                    let err = (whole - want).abs();
                    assert!(
                        err <= 1e-12,
                        "k={k} H[{j},{i}] with its low bits off by {err:e}"
                    );
                }
            }
            for threads in [2, 3] {
                let (many, many_low) = mixed_h(&x, k, d, threads);
                let same = h.iter().zip(&many).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "k={k}: H differs on {threads} threads");
                assert_eq!(low.values, many_low.values, "k={k}: low bits differ");
            }
        }
    }

    #[test]
    fn low_bits_fit_and_split_exactly() {
        for v in [
            0.0,
            1e-30,
            -0.0906,
            0.2499999,
            0.5,
            0.25,
            0.4999999999,
            -1e-3,
            0.123456789,
        ] {
            let (high, low) = split(v);
            let back = f64::from(high) + f64::from(low) * LOW_UNIT;
            assert!((back - v).abs() < LOW_UNIT, "v={v}: {back}");
            assert!(low.unsigned_abs() <= 1 << 14, "v={v}: low bits {low}");
        }
    }

    #[test]
    fn duplicate_rows_give_exactly_equal_columns() {
        let (x, k, d) = rows_with_a_duplicate();
        let (h, low) = mixed_h(&x, k, d, 1);
        assert_eq!(h[3], 0.5, "H[3, 0] of a duplicate pair");
        assert_eq!(low.column(3)[0], 0, "H[0, 3] of a duplicate pair");
        for i in [1, 2, 4, 5] {
            assert_eq!(h[i], h[3 * k + i], "row {i}");
        }
    }
}
