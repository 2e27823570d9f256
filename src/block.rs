//! The block driver: from a `k x d` block of examples to the scores of its last `p` rows.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use ndarray::{s, Array2, ArrayView2};

use crate::element::{normalise_rows, Element, UnitRows};
use crate::error::CoreError;
use crate::gram::kernel_lower;
use crate::loo::{self, BlockScores, Predictions, TargetScores};
use crate::precision::Precision;
use crate::real::Real;
use crate::simd::{dispatch, Simd};
use crate::threads::with_threads;
use crate::timing::{NoTiming, Phase, Recorder};
use crate::transform::kernel_cross_column;
use crate::views::{col, col_mut};

/// The column stride of a block's H: `k`, or `k + 8` when `k` is a multiple of 64.
///
/// Columns a power-of-two multiple of 512 bytes apart fall into the same cache sets, and the
/// factorisation then runs far below its speed at neighbouring sizes: a Cholesky of 8192 rows
/// took 1.6x longer with a stride of 8192 than of 8200 (`cholesky::tests::cholesky_stride`).
/// The stride changes no value, only where the columns sit.
pub fn stride(k: usize) -> usize {
    if k >= 64 && k % 64 == 0 {
        k + 8
    } else {
        k
    }
}

/// H of `k` rows as a `k x k` view of `buf` with the column stride [`stride`]`(k)`.
fn block_view<E: Real>(buf: &mut [E], k: usize) -> MatMut<'_, E> {
    MatMut::from_column_major_slice_with_stride_mut(buf, k, k, stride(k))
}

/// A zeroed buffer for the H of a block of `k` rows (`k` columns of [`stride`]`(k)`), from the
/// allocator's zeroed pages: no pass over the buffer before the Gram writes it, and the first
/// touch of each page happens in the parallel Gram.
fn block_buffer<E: Real>(k: usize) -> Result<Vec<E>, CoreError> {
    kernel_buffer_of(k, stride(k))
}

/// A zeroed, contiguous `k x k` buffer (the whole kernel that [`gram`] returns).
fn kernel_buffer<E: Real>(k: usize) -> Result<Vec<E>, CoreError> {
    kernel_buffer_of(k, k)
}

fn kernel_buffer_of<E: Real>(k: usize, stride: usize) -> Result<Vec<E>, CoreError> {
    let too_large = || CoreError::OutOfMemory {
        k,
        bytes: k as f64 * stride as f64 * std::mem::size_of::<E>() as f64,
    };
    let len = k.checked_mul(stride).ok_or_else(too_large)?;
    if len == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<E>(len).map_err(|_| too_large())?;
    // SAFETY: the layout has a non-zero size. A non-null result is a zeroed allocation of `len`
    // values of E, f64 or f32 (all-zero bits are 0.0 in both), from the global allocator with the
    // layout `Vec<E>` uses for capacity `len`, so the Vec may own and free it.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<E>();
        if ptr.is_null() {
            return Err(too_large());
        }
        Ok(Vec::from_raw_parts(ptr, len, len))
    }
}

/// Scores the last `p` rows of the block `x` (`k x d`) against the first `k − p`.
///
/// `threads` = 0 uses every CPU this process may run on. `rec` receives the seconds of each
/// phase; pass [`NoTiming`] when nobody reads them. With [`Precision::Single`], a block float32
/// cannot resolve is scored in float64 instead, with `fallback` set.
pub fn score_block<T: Element, R: Recorder>(
    x: ArrayView2<'_, T>,
    p: usize,
    threads: usize,
    precision: Precision,
    rec: &mut R,
) -> Result<BlockScores, CoreError> {
    let start = rec.mark();
    let k = x.nrows();
    if p == 0 || p > k {
        return Err(CoreError::Shape(format!("{p} positives in a block of {k}")));
    }
    let scores = with_threads(threads, |par| {
        let rows = rec.time(Phase::Normalise, || normalise_rows(x, par))?;
        let build = |h: MatMut<'_, f64>, rec: &mut R| kernel_lower(&rows, h, par, rec);
        match precision {
            Precision::Double => return block_in(k, p, par, build, rec),
            Precision::Single => {
                let build32 = |h: MatMut<'_, f32>, rec: &mut R| kernel_lower(&rows, h, par, rec);
                if let Some(out) = single(block_in(k, p, par, build32, rec))? {
                    return Ok(out);
                }
            }
        }
        let out = block_in(k, p, par, build, rec)?;
        Ok(BlockScores {
            fallback: true,
            ..out
        })
    })?;
    rec.add_since(Phase::Total, start);
    Ok(scores)
}

/// The scores of a block of `k` rows with H in `E`, in a buffer of its own (freed on return, so
/// that a float32 attempt's buffer is gone before a float64 one is allocated).
fn block_in<E: Real, R: Recorder>(
    k: usize,
    p: usize,
    par: Par,
    build: impl FnMut(MatMut<'_, E>, &mut R) -> Result<(), CoreError>,
    rec: &mut R,
) -> Result<BlockScores, CoreError> {
    let mut buf = block_buffer::<E>(k)?;
    loo::block_scores(block_view(&mut buf, k), p, par, build, rec)
}

/// A float32 result, or `None` where float32 could not resolve the block.
fn single<T>(out: Result<T, CoreError>) -> Result<Option<T>, CoreError> {
    match out {
        Ok(out) => Ok(Some(out)),
        Err(CoreError::Unresolved) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Scores the last `p` of the rows `index` of X against the others, from `kernel`, the H of X
/// (`n x n`) as [`gram`] or [`gram_upper`] returns it, in the block's storage type, rather than
/// from X itself. Only the entries on and right of the diagonal are read: row a at the columns
/// b ≥ a.
///
/// An entry of H is a function of its two rows alone: the Gram's inner products accumulate in
/// an order set by d, never by which other rows share the block (`tests` check it over block
/// sizes, in both types). So the gathered block H holds the same bits [`score_block`] builds in
/// `E`, and the scores are identical to it; only the Gram and transform phases are replaced by a
/// copy. An f32 kernel whose block float32 cannot factorise gives [`CoreError::Unresolved`]:
/// the caller, who holds the rows, scores it with [`score_block`] in float64.
pub fn score_cached<E: Real, R: Recorder>(
    kernel: ArrayView2<'_, E>,
    index: &[usize],
    p: usize,
    threads: usize,
    rec: &mut R,
) -> Result<BlockScores, CoreError> {
    let start = rec.mark();
    let k = index.len();
    check_index(kernel, index)?;
    if p == 0 || p > k {
        return Err(CoreError::Shape(format!("{p} positives in a block of {k}")));
    }
    let scores = with_threads(threads, |par| {
        block_in(k, p, par, |h, rec| gather(kernel, index, h, par, rec), rec)
    })?;
    rec.add_since(Phase::Total, start);
    Ok(scores)
}

/// Leave-one-out predictions of the kernel regressor on the block `x` (`k x d`) for each column
/// of `targets` (`k x m`), with H factorised in `precision` (see [`loo::predictions`]);
/// `shift > 0` makes it kernel ridge regression, H + shift · mean(diag H) · I.
/// [`Precision::Single`] predicts a block float32 cannot resolve in float64, with `fallback` set.
pub fn predict<T: Element, R: Recorder>(
    x: ArrayView2<'_, T>,
    targets: ArrayView2<'_, f64>,
    shift: f64,
    threads: usize,
    precision: Precision,
    rec: &mut R,
) -> Result<Predictions, CoreError> {
    let start = rec.mark();
    let k = x.nrows();
    check_targets(targets, k)?;
    check_shift(shift)?;
    let out = with_threads(threads, |par| {
        let rows = rec.time(Phase::Normalise, || normalise_rows(x, par))?;
        if precision == Precision::Single {
            let mut buf = block_buffer::<f32>(k)?;
            let build = |h: MatMut<'_, f32>, rec: &mut R| kernel_lower(&rows, h, par, rec);
            let h = block_view(&mut buf, k);
            if let Some(out) = single(loo::predictions(h, targets, shift, par, build, rec))? {
                return Ok(out);
            }
        }
        let mut buf = block_buffer::<f64>(k)?;
        let build = |h: MatMut<'_, f64>, rec: &mut R| kernel_lower(&rows, h, par, rec);
        let out = loo::predictions(block_view(&mut buf, k), targets, shift, par, build, rec)?;
        Ok(Predictions {
            fallback: precision == Precision::Single,
            ..out
        })
    })?;
    rec.add_since(Phase::Total, start);
    Ok(out)
}

/// A ridge shift is a finite number ≥ 0 (the Python side says so to the user first).
fn check_shift(shift: f64) -> Result<(), CoreError> {
    if shift.is_finite() && shift >= 0.0 {
        Ok(())
    } else {
        Err(CoreError::Shape(format!("a ridge shift of {shift}")))
    }
}

/// [`predict`] for the rows `index` of X, their H gathered from `kernel` (the H of X in `E`, as
/// for [`score_cached`]): the same bits as [`predict`] on those rows in `E`'s precision. An f32
/// kernel whose block float32 cannot factorise gives [`CoreError::Unresolved`]: the caller,
/// who holds the rows, predicts it with [`predict`] in float64.
pub fn predict_cached<E: Real, R: Recorder>(
    kernel: ArrayView2<'_, E>,
    index: &[usize],
    targets: ArrayView2<'_, f64>,
    shift: f64,
    threads: usize,
    rec: &mut R,
) -> Result<Predictions, CoreError> {
    let start = rec.mark();
    let k = index.len();
    check_index(kernel, index)?;
    check_targets(targets, k)?;
    check_shift(shift)?;
    let mut buf = block_buffer::<E>(k)?;
    let out = with_threads(threads, |par| {
        loo::predictions(
            block_view(&mut buf, k),
            targets,
            shift,
            par,
            |h, rec| gather(kernel, index, h, par, rec),
            rec,
        )
    })?;
    rec.add_since(Phase::Total, start);
    Ok(out)
}

/// Out-of-block predictions: the kernel regressor fitted to the first `fitted` rows of `x`
/// (`k x d`) and their `targets` (`fitted x m`), evaluated at the other `k − fitted` rows.
/// Returns their `(k − fitted) x m` predictions, row-major, with the ridge the fit needed.
///
/// H of the fitted rows is factorised in `precision` and A = H⁻¹ Y solved in f64 from its
/// factor; each predicted row's kernel values against the fitted rows are built in the same
/// type as H (the bits the whole kernel of X holds for that pair, so [`predict_out_cached`]
/// agrees) and multiplied by A in f64. With [`Precision::Single`], a fit float32 cannot
/// factorise is done in float64 instead, with `fallback` set.
pub fn predict_out<T: Element, R: Recorder>(
    x: ArrayView2<'_, T>,
    fitted: usize,
    targets: ArrayView2<'_, f64>,
    threads: usize,
    precision: Precision,
    rec: &mut R,
) -> Result<Predictions, CoreError> {
    let start = rec.mark();
    check_split(fitted, x.nrows(), targets)?;
    let out = with_threads(threads, |par| {
        let fit = rec.time(Phase::Normalise, || {
            normalise_rows(x.slice(s![..fitted, ..]), par)
        })?;
        let query = rec
            .time(Phase::Normalise, || {
                normalise_rows(x.slice(s![fitted.., ..]), par)
            })
            .map_err(|err| match err {
                CoreError::BadRow { row, reason } => CoreError::BadRow {
                    row: row + fitted,
                    reason,
                },
                other => other,
            })?;
        if precision == Precision::Single {
            if let Some(out) = single(fit_and_predict::<f32, R>(&fit, &query, targets, par, rec))? {
                return Ok(out);
            }
        }
        let out = fit_and_predict::<f64, R>(&fit, &query, targets, par, rec)?;
        Ok(Predictions {
            fallback: precision == Precision::Single,
            ..out
        })
    })?;
    rec.add_since(Phase::Total, start);
    Ok(out)
}

/// The regressor fitted to the unit rows `fit` with H in `E` (its buffer freed before the
/// predictions, as [`block_in`] frees a float32 attempt's), evaluated at the rows `query`.
fn fit_and_predict<E: Real, R: Recorder>(
    fit: &UnitRows,
    query: &UnitRows,
    targets: ArrayView2<'_, f64>,
    par: Par,
    rec: &mut R,
) -> Result<Predictions, CoreError> {
    let k = fit.len();
    let (a, ridge) = {
        let mut buf = block_buffer::<E>(k)?;
        let build = |h: MatMut<'_, E>, rec: &mut R| kernel_lower(fit, h, par, rec);
        loo::coefficients(block_view(&mut buf, k), targets, par, build, rec)?
    };
    let values = rows_predictions::<E, R>(fit, query, a.as_ref(), par, rec);
    Ok(Predictions {
        values,
        ridge,
        fallback: false,
    })
}

/// [`predict_out`] for the rows `index` of X, the first `fitted` of them fitted and the rest
/// predicted, every kernel value copied from `kernel` (the H of X in `E`, as for
/// [`score_cached`]): the same bits as [`predict_out`] on those rows in `E`'s precision. An f32
/// kernel whose fit float32 cannot factorise gives [`CoreError::Unresolved`].
pub fn predict_out_cached<E: Real, R: Recorder>(
    kernel: ArrayView2<'_, E>,
    index: &[usize],
    fitted: usize,
    targets: ArrayView2<'_, f64>,
    threads: usize,
    rec: &mut R,
) -> Result<Predictions, CoreError> {
    let start = rec.mark();
    check_index(kernel, index)?;
    check_split(fitted, index.len(), targets)?;
    let (fit, query) = index.split_at(fitted);
    let out = with_threads(threads, |par| {
        let mut buf = block_buffer::<E>(fitted)?;
        let (a, ridge) = loo::coefficients(
            block_view(&mut buf, fitted),
            targets,
            par,
            |h, rec| gather(kernel, fit, h, par, rec),
            rec,
        )?;
        drop(buf);
        let values = cross_predictions(a.as_ref(), query.len(), par, rec, |first, c| {
            copy_cross(kernel, fit, &query[first..first + c.nrows()], c, par)
        });
        Ok::<_, CoreError>(Predictions {
            values,
            ridge,
            fallback: false,
        })
    })?;
    rec.add_since(Phase::Total, start);
    Ok(out)
}

/// Copies H[query[i], fit[j]] out of `kernel` (row a holding H[a, b] for b ≥ a) into `c`
/// (`query x fit`). With both index lists increasing (as the plan makes them), in two passes
/// that each read kernel rows left to right: a query row's own kernel row for the fitted rows
/// at or after it, then a fitted row's kernel row for the query rows after it. A copy: no bit
/// depends on the order.
fn copy_cross<E: Real>(
    kernel: ArrayView2<'_, E>,
    fit: &[usize],
    query: &[usize],
    mut c: MatMut<'_, E>,
    par: Par,
) {
    let increasing = |v: &[usize]| v.windows(2).all(|w| w[0] < w[1]);
    if !increasing(fit) || !increasing(query) {
        for (j, &b) in fit.iter().enumerate() {
            for (v, &a) in col_mut(c.as_mut(), j).iter_mut().zip(query) {
                *v = if a <= b {
                    kernel[(a, b)]
                } else {
                    kernel[(b, a)]
                };
            }
        }
        return;
    }
    // A chunk of query rows at a time, fitted row by fitted row: the writes run down a column
    // of `c`, the reads along the chunk's kernel rows.
    let by_query = |(chunk, mut rows): (usize, MatMut<'_, E>)| {
        let mine = &query[chunk * GATHER_ROWS..chunk * GATHER_ROWS + rows.nrows()];
        let lines: Vec<_> = mine.iter().map(|&a| kernel.row(a)).collect();
        let from = fit.partition_point(|&b| b < mine[0]);
        for (j, &b) in fit.iter().enumerate().skip(from) {
            let column = col_mut(rows.as_mut(), j);
            for ((v, &a), line) in column.iter_mut().zip(mine).zip(&lines) {
                if a <= b {
                    *v = line[b];
                }
            }
        }
    };
    let by_fit = |j: usize, column: &mut [E]| {
        let b = fit[j];
        let row = kernel.row(b);
        let from = query.partition_point(|&a| a <= b);
        for (v, &a) in column[from..].iter_mut().zip(&query[from..]) {
            *v = row[a];
        }
    };
    match par {
        Par::Seq => {
            by_query((0, c.as_mut()));
            (0..fit.len()).for_each(|j| by_fit(j, col_mut(c.as_mut(), j)));
        }
        Par::Rayon(_) => {
            use rayon::prelude::*;
            c.as_mut()
                .par_row_chunks_mut(GATHER_ROWS)
                .enumerate()
                .for_each(by_query);
            c.par_col_chunks_mut(1)
                .enumerate()
                .for_each(|(j, c)| by_fit(j, col_mut(c, 0)));
        }
    }
}

/// Fewest rows on either side of a cross kernel's product (see [`cross_kernel`]).
const CROSS_MIN: usize = 16;

/// Predicted rows whose kernel values one pass builds and multiplies: bounds the scratch to
/// this many rows of the fit's width, and sets no bit (each value is a sum over the fit).
const CROSS_ROWS: usize = 1024;

/// The predictions `C A` (`q x m`, row-major) of `q` rows whose kernel values C against the
/// fitted rows (`q x k`, in `E`) `fill(first, c)` writes, `CROSS_ROWS` rows at a time from row
/// `first`; the product in f64 ([`times_coefficients`]).
fn cross_predictions<E: Real, R: Recorder>(
    a: MatRef<'_, f64>,
    q: usize,
    par: Par,
    rec: &mut R,
    mut fill: impl FnMut(usize, MatMut<'_, E>),
) -> Vec<f64> {
    let (k, m) = (a.nrows(), a.ncols());
    let mut values = vec![0.0; q * m];
    let mut c = Mat::<E>::zeros(CROSS_ROWS.min(q), k);
    // A's rows, each class's coefficient of one fitted row side by side, read once per row.
    let a_rows: Vec<f64> = (0..k)
        .flat_map(|j| (0..m).map(move |cl| a[(j, cl)]))
        .collect();
    for first in (0..q).step_by(CROSS_ROWS) {
        let rows = CROSS_ROWS.min(q - first);
        rec.time(Phase::Gram, || fill(first, c.as_mut().subrows_mut(0, rows)));
        rec.time(Phase::Solve, || {
            let out = &mut values[first * m..(first + rows) * m];
            times_coefficients(c.as_ref().subrows(0, rows), &a_rows, m, out, par)
        });
    }
    values
}

/// Rows a product group sums side by side, and fitted rows (columns of `c`) a pass of every
/// group reads before the next (see [`times_coefficients`]).
const PRODUCT_ROWS: usize = 64;
const PRODUCT_COLUMNS: usize = 64;

/// `out[i m + cl] = Σ_j c_ij a_j,cl` for the rows of `c` (`r x k`, in `E`) and `a_rows` (`k x m`,
/// row-major, f64): each value widened to f64 as it is read, each sum taken over `j` in
/// increasing order. A row's sum is one chain of additions, whichever thread or SIMD width
/// computes it, so the bits depend on neither; the rows of a group of [`PRODUCT_ROWS`] are the
/// vector lanes. Reading `c` in its own precision, this takes no f64 copy of it.
///
/// Every group reads [`PRODUCT_COLUMNS`] columns of `c` before any reads the next ones: a column
/// of `c` is a page of memory or more apart from the next, and a group that read all `k` in turn
/// would touch `k` pages, more than the address cache holds (this ran at half the speed).
fn times_coefficients<E: Real>(
    c: MatRef<'_, E>,
    a_rows: &[f64],
    m: usize,
    out: &mut [f64],
    par: Par,
) {
    let r = c.nrows();
    if m == 0 {
        return; // no targets, nothing to predict
    }
    // Class-major sums per group: group g's lanes of class cl at g·G·m + cl·G.
    let mut sums = vec![0.0f64; r.div_ceil(PRODUCT_ROWS) * PRODUCT_ROWS * m];
    for from in (0..c.ncols()).step_by(PRODUCT_COLUMNS) {
        let to = (from + PRODUCT_COLUMNS).min(c.ncols());
        let group = |(g, sums): (usize, &mut [f64])| {
            let first = g * PRODUCT_ROWS;
            dispatch(Product {
                c: c.subcols(from, to - from),
                rows: first..(first + PRODUCT_ROWS).min(r),
                a_rows: &a_rows[from * m..to * m],
                m,
                sums,
            })
        };
        match par {
            Par::Seq => sums
                .chunks_mut(PRODUCT_ROWS * m)
                .enumerate()
                .for_each(group),
            Par::Rayon(_) => {
                use rayon::prelude::*;
                sums.par_chunks_mut(PRODUCT_ROWS * m)
                    .enumerate()
                    .for_each(group)
            }
        }
    }
    for (i, row) in out.chunks_exact_mut(m).enumerate() {
        let (g, lane) = (i / PRODUCT_ROWS, i % PRODUCT_ROWS);
        for (cl, v) in row.iter_mut().enumerate() {
            *v = sums[(g * m + cl) * PRODUCT_ROWS + lane];
        }
    }
}

/// One pass of one group of [`times_coefficients`]: adds `Σ_j c_ij a_j,cl` over the columns of
/// `c` to the group's class-major `sums`, for its `rows` of `c`.
struct Product<'a, E> {
    c: MatRef<'a, E>,
    rows: std::ops::Range<usize>,
    a_rows: &'a [f64],
    m: usize,
    sums: &'a mut [f64],
}

impl<E: Real> Simd for Product<'_, E> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let mut wide = [0.0f64; PRODUCT_ROWS];
        for (j, a) in self.a_rows.chunks_exact(self.m).enumerate() {
            let column = &col(self.c, j)[self.rows.clone()];
            for (w, v) in wide.iter_mut().zip(column) {
                *w = v.to_f64();
            }
            for (lanes, &coefficient) in self.sums.chunks_exact_mut(PRODUCT_ROWS).zip(a) {
                for (s, w) in lanes.iter_mut().zip(&wide) {
                    *s += w * coefficient;
                }
            }
        }
    }
}

/// [`cross_predictions`] with the kernel values built from the unit rows: the cosines by one
/// product in `E`, then the transform every block's H gets, near-parallel pairs from the chord.
fn rows_predictions<E: Real, R: Recorder>(
    fit: &UnitRows,
    query: &UnitRows,
    a: MatRef<'_, f64>,
    par: Par,
    rec: &mut R,
) -> Vec<f64> {
    let d = fit.dim();
    let fit_unit = E::narrow_slice(fit.as_slice(), par);
    let query_unit = E::narrow_slice(query.as_slice(), par);
    cross_predictions::<E, R>(a, query.len(), par, rec, |first, c| {
        let unit = &query_unit[first * d..(first + c.nrows()) * d];
        cross_kernel(&fit_unit, unit, d, c, par);
    })
}

/// Writes the kernel values between the rows `query` and the rows `fit` (unit rows in `E`, `d`
/// values each) into `c` (`query x fit`): the values the whole kernel of X holds for each pair.
///
/// A side of fewer than [`CROSS_MIN`] rows is padded (its rows repeated) and the extra values
/// dropped, so that the product always takes faer's matrix path, whose sums over the d features
/// run in the order the whole kernel's do (a single row or column takes a vector path that
/// sums in another order, and a few values differ in the last bit: `cross_tests`).
fn cross_kernel<E: Real>(fit: &[E], query: &[E], d: usize, mut c: MatMut<'_, E>, par: Par) {
    let (k, q) = (fit.len() / d, query.len() / d);
    if k < CROSS_MIN || q < CROSS_MIN {
        let pad = |rows: &[E], n: usize| -> Vec<E> {
            (0..n.max(CROSS_MIN))
                .flat_map(|i| rows[(i % n) * d..(i % n + 1) * d].iter().copied())
                .collect()
        };
        let mut all = Mat::<E>::zeros(q.max(CROSS_MIN), k.max(CROSS_MIN));
        cross_kernel(&pad(fit, k), &pad(query, q), d, all.as_mut(), par);
        c.copy_from(all.as_ref().submatrix(0, 0, q, k));
        return;
    }
    let at = MatRef::from_column_major_slice(fit, d, k);
    let qt = MatRef::from_column_major_slice(query, d, q);
    matmul(
        c.as_mut(),
        Accum::Replace,
        qt.transpose(),
        at,
        E::narrow(1.0),
        par,
    );
    let transform = |j: usize, column: &mut [E]| {
        kernel_cross_column(column, &fit[j * d..(j + 1) * d], query, d)
    };
    match par {
        Par::Seq => (0..at.ncols()).for_each(|j| transform(j, col_mut(c.as_mut(), j))),
        Par::Rayon(_) => {
            use rayon::prelude::*;
            c.par_col_chunks_mut(1)
                .enumerate()
                .with_min_len(16)
                .for_each(|(j, c)| transform(j, col_mut(c, 0)));
        }
    }
}

/// Fails unless `kernel` is square and every row of `index` is one of its rows.
fn check_index<E>(kernel: ArrayView2<'_, E>, index: &[usize]) -> Result<(), CoreError> {
    let n = kernel.nrows();
    if kernel.ncols() != n {
        return Err(CoreError::Shape(format!(
            "the kernel is {n} x {}, it must be square",
            kernel.ncols()
        )));
    }
    if index.is_empty() {
        return Err(CoreError::Shape("a block of no rows".into()));
    }
    if let Some(&i) = index.iter().find(|&&i| i >= n) {
        return Err(CoreError::Shape(format!("row {i} of a kernel of {n} rows")));
    }
    Ok(())
}

/// Fails unless a block of `k` rows fits its first `fitted` (at least one) and predicts the rest
/// (at least one), with one row of finite `targets` per fitted row.
fn check_split(fitted: usize, k: usize, targets: ArrayView2<'_, f64>) -> Result<(), CoreError> {
    if fitted == 0 || fitted >= k {
        return Err(CoreError::Shape(format!(
            "{fitted} fitted rows in a block of {k}: at least one must be fitted and one predicted"
        )));
    }
    check_targets(targets, fitted)
}

/// Fails unless `targets` has one row per row of a block of `k` and only finite values.
fn check_targets(targets: ArrayView2<'_, f64>, k: usize) -> Result<(), CoreError> {
    if k == 0 || targets.nrows() != k {
        return Err(CoreError::Shape(format!(
            "{} rows of targets for a block of {k}",
            targets.nrows()
        )));
    }
    if let Some((at, v)) = targets.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(CoreError::Shape(format!(
            "targets must be finite, row {} of column {} is {v}",
            at.0, at.1
        )));
    }
    Ok(())
}

/// Copies the lower triangle of the H of the rows `index` out of `kernel` into `h`.
fn gather<E: Real, R: Recorder>(
    kernel: ArrayView2<'_, E>,
    index: &[usize],
    mut h: MatMut<'_, E>,
    par: Par,
    rec: &mut R,
) -> Result<(), CoreError> {
    rec.time(Phase::Gram, || {
        gather_down(kernel, index, h.as_mut(), par);
        gather_across(kernel, index, h, par);
    });
    Ok(())
}

/// Rows of the block's H one parallel task fills in [`gather_across`].
const GATHER_ROWS: usize = 64;

/// The first pass of the gather into the lower triangle of the block's H: column j gets
/// H[index[i], index[j]] for the i ≥ j with index[i] ≥ index[j], read along kernel row index[j].
fn gather_down<E: Real>(kernel: ArrayView2<'_, E>, index: &[usize], h: MatMut<'_, E>, par: Par) {
    let fill = |j: usize, mut col: faer::ColMut<'_, E>| {
        let a = index[j];
        let row = kernel.row(a);
        for (i, &b) in index.iter().enumerate().skip(j) {
            if b >= a {
                col[i] = row[b];
            }
        }
    };
    match par {
        Par::Seq => {
            for (j, col) in h.col_iter_mut().enumerate() {
                fill(j, col);
            }
        }
        Par::Rayon(_) => {
            use rayon::prelude::*;
            h.par_col_chunks_mut(1)
                .enumerate()
                .for_each(|(j, cols)| fill(j, cols.col_mut(0)));
        }
    }
}

/// The second pass: row i gets the rest, H[index[i], index[j]] for the j < i with index[j] >
/// index[i], read along kernel row index[i]. Each kernel row is read left to right from its
/// diagonal on, so a kernel that holds only that half (as [`gram_upper`] builds it) is enough.
/// A block lists its negatives, then its positives, each in increasing order: this pass then
/// fills only the pairs of a positive and a later-indexed negative.
fn gather_across<E: Real>(kernel: ArrayView2<'_, E>, index: &[usize], h: MatMut<'_, E>, par: Par) {
    let fill = |(chunk, mut rows): (usize, MatMut<'_, E>)| {
        let first = chunk * GATHER_ROWS;
        for r in 0..rows.nrows() {
            let i = first + r;
            let a = index[i];
            let row = kernel.row(a);
            for (j, &b) in index[..i].iter().enumerate() {
                if b > a {
                    rows[(r, j)] = row[b];
                }
            }
        }
    };
    match par {
        Par::Seq => fill((0, h)),
        Par::Rayon(_) => {
            use rayon::prelude::*;
            h.par_row_chunks_mut(GATHER_ROWS).enumerate().for_each(fill);
        }
    }
}

/// Scores and terms of every row of the block `x` (`k x d`) under each labelling in the columns
/// of `labels` (`k x m`, entries ±1), from one factorisation of H: what m separate blocks of the
/// same rows would give, at the cost of one. Returns one [`BlockScores`] per column, rows in block
/// order, and the ridge used. [`Precision::Single`] factorises in float32, and a block float32
/// cannot resolve in float64, with `fallback` set in every column.
pub fn score_labels<T: Element, R: Recorder>(
    x: ArrayView2<'_, T>,
    labels: ArrayView2<'_, f64>,
    threads: usize,
    precision: Precision,
    rec: &mut R,
) -> Result<(Vec<BlockScores>, f64), CoreError> {
    let start = rec.mark();
    let k = x.nrows();
    if labels.nrows() != k {
        return Err(CoreError::Shape(format!(
            "{} labels for a block of {k}",
            labels.nrows()
        )));
    }
    if let Some((row, v)) = labels.indexed_iter().find(|(_, &v)| v != 1.0 && v != -1.0) {
        return Err(CoreError::Shape(format!(
            "labels must be +1 or -1, row {} of column {} is {v}",
            row.0, row.1
        )));
    }
    let out = with_threads(threads, |par| {
        let rows = rec.time(Phase::Normalise, || normalise_rows(x, par))?;
        if precision == Precision::Single {
            let mut buf = block_buffer::<f32>(k)?;
            let build = |h: MatMut<'_, f32>, rec: &mut R| kernel_lower(&rows, h, par, rec);
            let h = block_view(&mut buf, k);
            if let Some(out) = single(loo::label_scores(h, labels, par, build, rec))? {
                return Ok(out);
            }
        }
        let mut buf = block_buffer::<f64>(k)?;
        let build = |h: MatMut<'_, f64>, rec: &mut R| kernel_lower(&rows, h, par, rec);
        let (mut all, ridge) = loo::label_scores(block_view(&mut buf, k), labels, par, build, rec)?;
        for out in all.iter_mut() {
            out.fallback = precision == Precision::Single;
        }
        Ok((all, ridge))
    })?;
    rec.add_since(Phase::Total, start);
    Ok(out)
}

/// Scores, terms and leave-one-out residuals of every row of the block `x` (`k x d`) for each
/// real-valued target in the columns of `targets` (`k x m`, finite), from one factorisation of
/// H: [`score_labels`] without the ±1 restriction (the same bits on ±1 columns), plus the
/// residual α_i / G_ii of each row. [`Precision::Single`] factorises in float32, and a block
/// float32 cannot resolve in float64, with `fallback` set in every column.
pub fn score_targets<T: Element, R: Recorder>(
    x: ArrayView2<'_, T>,
    targets: ArrayView2<'_, f64>,
    threads: usize,
    precision: Precision,
    rec: &mut R,
) -> Result<(Vec<TargetScores>, f64), CoreError> {
    let start = rec.mark();
    let k = x.nrows();
    check_targets(targets, k)?;
    let out = with_threads(threads, |par| {
        let rows = rec.time(Phase::Normalise, || normalise_rows(x, par))?;
        if precision == Precision::Single {
            let mut buf = block_buffer::<f32>(k)?;
            let build = |h: MatMut<'_, f32>, rec: &mut R| kernel_lower(&rows, h, par, rec);
            let h = block_view(&mut buf, k);
            if let Some(out) = single(loo::target_scores(h, targets, par, build, rec))? {
                return Ok(out);
            }
        }
        let mut buf = block_buffer::<f64>(k)?;
        let build = |h: MatMut<'_, f64>, rec: &mut R| kernel_lower(&rows, h, par, rec);
        let (mut all, ridge) =
            loo::target_scores(block_view(&mut buf, k), targets, par, build, rec)?;
        for out in all.iter_mut() {
            out.scores.fallback = precision == Precision::Single;
        }
        Ok((all, ridge))
    })?;
    rec.add_since(Phase::Total, start);
    Ok(out)
}

/// The full symmetric H of the block `x` (`k x d`), in `E` (built as a block in `E` builds it).
pub fn gram<E: Real, T: Element>(
    x: ArrayView2<'_, T>,
    threads: usize,
) -> Result<Array2<E>, CoreError> {
    kernel_matrix(x, threads, true)
}

/// H of the rows of `x` (`k x d`) in `E` as a `k x k` array whose row a holds H[a, b] for b ≥ a,
/// the half [`score_cached`] reads; the entries left of the diagonal are 0. Half the work of
/// [`gram`] after the Gram: no mirror, and the pages wholly left of the diagonal, about half of
/// them, are never written, so they take no memory and no page faults.
pub fn gram_upper<E: Real, T: Element>(
    x: ArrayView2<'_, T>,
    threads: usize,
) -> Result<Array2<E>, CoreError> {
    kernel_matrix(x, threads, false)
}

fn kernel_matrix<E: Real, T: Element>(
    x: ArrayView2<'_, T>,
    threads: usize,
    whole: bool,
) -> Result<Array2<E>, CoreError> {
    let k = x.nrows();
    let mut h = kernel_buffer::<E>(k)?;
    with_threads(threads, |par| {
        let rows = normalise_rows(x, par)?;
        // H's lower triangle in column-major order: in the row-major array returned, row a
        // holds the columns b ≥ a.
        kernel_lower(
            &rows,
            MatMut::from_column_major_slice_mut(&mut h, k, k),
            par,
            &mut NoTiming,
        )?;
        if whole {
            mirror_lower(&mut h, k, par);
        }
        Ok::<_, CoreError>(())
    })?;
    Array2::from_shape_vec((k, k), h).map_err(|e| CoreError::Shape(e.to_string()))
}

/// Copies the strict lower triangle of the column-major `k x k` matrix `h` onto its upper one.
///
/// In tiles of 64 x 64, so that the strided side of the transpose stays in cache; each task
/// fills the upper part of one band of 64 columns, bands in parallel. A copy: no bit depends on
/// the order.
fn mirror_lower<E: Real>(h: &mut [E], k: usize, par: Par) {
    const TILE: usize = 64;
    assert_eq!(h.len(), k * k);
    struct Shared<E>(*mut E);
    // SAFETY: shared between the tasks below, which write only strictly-upper entries, each of
    // them in its own band of columns, and read only strictly-lower entries, which nobody writes.
    unsafe impl<E: Send> Sync for Shared<E> {}
    let shared = Shared(h.as_mut_ptr());
    let band = |c0: usize| {
        let base = &shared;
        let c1 = (c0 + TILE).min(k);
        for r0 in (0..c1).step_by(TILE) {
            for r in r0..(r0 + TILE).min(c1) {
                for c in c0.max(r + 1)..c1 {
                    // SAFETY: r < c < k, so both offsets are inside h; (r, c) at c k + r is
                    // strictly upper and in this band, (c, r) at r k + c strictly lower.
                    unsafe { *base.0.add(c * k + r) = *base.0.add(r * k + c) };
                }
            }
        }
    };
    match par {
        Par::Seq => (0..k).step_by(TILE).for_each(band),
        Par::Rayon(_) => {
            use rayon::prelude::*;
            (0..k.div_ceil(TILE))
                .into_par_iter()
                .for_each(|t| band(t * TILE));
        }
    }
}

/// yᵀ H⁻¹ y for the block `x` (`k x d`) and each column y of `labels` (`k x m`), from one
/// factorisation; returns the m values with the ridge used.
pub fn complexity<T: Element>(
    x: ArrayView2<'_, T>,
    labels: ArrayView2<'_, f64>,
    threads: usize,
) -> Result<(Vec<f64>, f64), CoreError> {
    let k = x.nrows();
    if labels.nrows() != k {
        return Err(CoreError::Shape(format!(
            "{} labels for a block of {k}",
            labels.nrows()
        )));
    }
    let mut h = block_buffer::<f64>(k)?;
    with_threads(threads, |par| {
        let rows = normalise_rows(x, par)?;
        loo::complexity(block_view(&mut h, k), labels, par, |h, rec| {
            kernel_lower(&rows, h, par, rec)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solve::solve;
    use crate::timing::PhaseTimes;
    use faer::MatRef;

    #[test]
    fn a_kernel_too_large_to_allocate_is_an_out_of_memory_error_naming_its_size() {
        // k * k overflows usize: refused before any allocation, as the allocator's refusal is.
        let k = 1usize << 33;
        let err = kernel_buffer::<f64>(k).unwrap_err();
        assert!(matches!(err, CoreError::OutOfMemory { k: got, .. } if got == k));
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("cannot allocate the {k} x {k} kernel matrix")),
            "{msg}"
        );
        assert!(msg.contains("pass a smaller max_block"), "{msg}");
        assert!(!msg.contains("shape mismatch"), "{msg}");
    }

    fn sample(k: usize, d: usize) -> Array2<f64> {
        Array2::from_shape_fn((k, d), |(r, c)| {
            let i = r * d + c;
            ((i * 7919 % 1013) as f64 / 1013.0) - 0.4
        })
    }

    fn score(
        x: ArrayView2<'_, f64>,
        p: usize,
        threads: usize,
        precision: Precision,
    ) -> BlockScores {
        score_block(x, p, threads, precision, &mut NoTiming).unwrap()
    }

    #[test]
    fn one_factorisation_scores_every_labelling_like_separate_blocks() {
        let (k, d) = (300, 12);
        let mut state = 99u64;
        let x = Array2::from_shape_simple_fn((k, d), || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        });
        // Three labellings: a class in rows 0..100, one in rows 100..300, and one scattered.
        let labels = Array2::from_shape_fn((k, 3), |(i, c)| match c {
            0 => {
                if i < 100 {
                    1.0
                } else {
                    -1.0
                }
            }
            1 => {
                if i < 100 {
                    -1.0
                } else {
                    1.0
                }
            }
            _ => {
                if i % 3 == 0 {
                    1.0
                } else {
                    -1.0
                }
            }
        });
        let (all, ridge) =
            score_labels(x.view(), labels.view(), 2, Precision::Double, &mut NoTiming).unwrap();
        assert_eq!(ridge, 0.0);
        for (c, out) in all.iter().enumerate() {
            // The separate block: the same rows, negatives first, positives last.
            let pos: Vec<usize> = (0..k).filter(|&i| labels[(i, c)] > 0.0).collect();
            let neg: Vec<usize> = (0..k).filter(|&i| labels[(i, c)] < 0.0).collect();
            let order: Vec<usize> = neg.iter().chain(&pos).copied().collect();
            let block = x.select(ndarray::Axis(0), &order);
            let want = score(block.view(), pos.len(), 1, Precision::Double);
            for (j, &i) in pos.iter().enumerate() {
                for (got, want) in [
                    (out.score[i], want.score[j]),
                    (out.a2[i], want.a2[j]),
                    (out.ab[i], want.ab[j]),
                    (out.b2[i], want.b2[j]),
                ] {
                    assert!(
                        (got - want).abs() <= 1e-10 * want.abs(),
                        "column {c} row {i}: {got} vs {want}"
                    );
                }
            }
            // Negatives are scored too: their block is the same one with the labels negated.
            let flipped: Vec<usize> = pos.iter().chain(&neg).copied().collect();
            let block = x.select(ndarray::Axis(0), &flipped);
            let want = score(block.view(), neg.len(), 1, Precision::Double);
            for (j, &i) in neg.iter().enumerate() {
                // y → −y gives α → −α: the same score and a2, ab and b2 unchanged.
                assert!((out.score[i] - want.score[j]).abs() <= 1e-10 * want.score[j]);
                assert!((out.b2[i] - want.b2[j]).abs() <= 1e-10 * want.b2[j]);
            }
        }
        let one =
            score_labels(x.view(), labels.view(), 1, Precision::Double, &mut NoTiming).unwrap();
        assert_eq!(one, (all, ridge), "threads changed a bit");
    }

    #[test]
    fn cached_predictions_are_the_bits_of_built_ones_on_any_threads() {
        // With and without a ridge shift of H's diagonal (kernel ridge regression).
        let x = sample(90, 5);
        let index: Vec<usize> = (0..90).filter(|i| i % 3 != 1).collect();
        let targets = Array2::from_shape_fn(
            (index.len(), 3),
            |(i, c)| {
                if i % 3 == c {
                    1.0
                } else {
                    -1.0
                }
            },
        );
        let block = x.select(ndarray::Axis(0), &index);
        let predicted = |shift, threads, precision| {
            predict(
                block.view(),
                targets.view(),
                shift,
                threads,
                precision,
                &mut NoTiming,
            )
            .unwrap()
        };
        let upper64 = gram_upper::<f64, _>(x.view(), 1).unwrap();
        let upper32 = gram_upper::<f32, _>(x.view(), 2).unwrap();
        for (precision, shift) in [Precision::Double, Precision::Single]
            .into_iter()
            .flat_map(|p| [(p, 0.0), (p, 0.3)])
        {
            let want = predicted(shift, 1, precision);
            assert_eq!(want.values.len(), index.len() * 3);
            assert!(!want.fallback && want.ridge == 0.0);
            for threads in [1, 2, 3] {
                let cached = match precision {
                    Precision::Double => predict_cached(
                        upper64.view(),
                        &index,
                        targets.view(),
                        shift,
                        threads,
                        &mut NoTiming,
                    ),
                    Precision::Single => predict_cached(
                        upper32.view(),
                        &index,
                        targets.view(),
                        shift,
                        threads,
                        &mut NoTiming,
                    ),
                };
                let what = format!("{precision:?}, shift {shift}, {threads} threads");
                assert_eq!(predicted(shift, threads, precision), want, "{what}");
                assert_eq!(cached.unwrap(), want, "{what}, cached");
            }
        }
        let nan = Array2::from_elem((index.len(), 1), f64::NAN);
        let err = predict(
            block.view(),
            nan.view(),
            0.0,
            1,
            Precision::Double,
            &mut NoTiming,
        );
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("targets must be finite"));
        let short = Array2::<f64>::zeros((3, 1));
        assert!(
            predict_cached(upper64.view(), &index, short.view(), 0.0, 1, &mut NoTiming).is_err()
        );
    }

    #[test]
    fn a_ridge_shift_changes_the_predictions_and_a_bad_one_is_refused() {
        // Thread and cache invariance with a shift: cached_predictions_are_the_bits_of_...
        let x = sample(120, 5);
        let targets = Array2::from_shape_fn((120, 3), |(i, c)| if i % 3 == c { 1.0 } else { -1.0 });
        for precision in [Precision::Double, Precision::Single] {
            let run = |shift| predict(x.view(), targets.view(), shift, 2, precision, &mut NoTiming);
            let (none, some) = (run(0.0).unwrap(), run(0.3).unwrap());
            assert_ne!(
                none.values, some.values,
                "{precision:?}: the shift did nothing"
            );
            for bad in [-0.1, f64::NAN, f64::INFINITY] {
                assert!(matches!(run(bad), Err(CoreError::Shape(_))), "shift {bad}");
            }
        }
    }

    #[test]
    fn single_predictions_are_the_double_ones_to_float32_rounding() {
        // Blocks of every class in turn, as the suggestion pass deals them; one with a duplicate
        // row, which float32 hands to float64 whole.
        let (k, d, classes) = (400, 30, 4);
        let x = noise(k, d, 17);
        let targets = Array2::from_shape_fn((k, classes), |(i, c)| {
            if (i * 7 + i / 50) % classes == c {
                1.0
            } else {
                -1.0
            }
        });
        let double = predict(
            x.view(),
            targets.view(),
            0.0,
            2,
            Precision::Double,
            &mut NoTiming,
        );
        let single = predict(
            x.view(),
            targets.view(),
            0.0,
            2,
            Precision::Single,
            &mut NoTiming,
        );
        let (double, single) = (double.unwrap(), single.unwrap());
        assert!(!single.fallback && !double.fallback);
        assert_ne!(
            single.values, double.values,
            "single should not run in float64"
        );
        // The bound tests/test_suggest.py documents: within 1e-3 of the largest prediction.
        let top = double.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (s, d) in single.values.iter().zip(&double.values) {
            assert!((s - d).abs() <= 1e-3 * top, "single {s} double {d}");
        }
        for threads in [1, 3] {
            let again = predict(
                x.view(),
                targets.view(),
                0.0,
                threads,
                Precision::Single,
                &mut NoTiming,
            );
            assert_eq!(again.unwrap(), single, "{threads} threads");
        }
        let mut dup = x.clone();
        dup.row_mut(9).assign(&x.row(300));
        let single = predict(
            dup.view(),
            targets.view(),
            0.0,
            2,
            Precision::Single,
            &mut NoTiming,
        );
        let double = predict(
            dup.view(),
            targets.view(),
            0.0,
            2,
            Precision::Double,
            &mut NoTiming,
        );
        let (single, double) = (single.unwrap(), double.unwrap());
        assert!(single.fallback && double.ridge > 0.0);
        assert_eq!(single.values, double.values);
        let upper = gram_upper::<f32, _>(dup.view(), 2).unwrap();
        let index: Vec<usize> = (0..k).collect();
        let err = predict_cached(upper.view(), &index, targets.view(), 0.0, 2, &mut NoTiming);
        assert_eq!(err.unwrap_err(), CoreError::Unresolved);
    }

    #[test]
    fn real_targets_score_like_labels_and_their_residuals_are_the_predictions() {
        let x = sample(61, 4);
        let k = x.nrows();
        // A ±1 column, where the target scores must be the label scores to the bit, and two
        // real-valued ones.
        let targets = Array2::from_shape_fn((k, 3), |(i, c)| match c {
            0 => {
                if i % 3 == 0 {
                    1.0
                } else {
                    -1.0
                }
            }
            1 => (i as f64 * 0.37).sin() * 2.5 + 0.1,
            _ => ((i * 17 % 23) as f64 - 11.0) / 7.0,
        });
        for precision in [Precision::Double, Precision::Single] {
            let (all, ridge) =
                score_targets(x.view(), targets.view(), 2, precision, &mut NoTiming).unwrap();
            assert_eq!(ridge, 0.0);
            let signs = targets.slice(ndarray::s![.., 0..1]);
            let (labelled, _) = score_labels(x.view(), signs, 2, precision, &mut NoTiming).unwrap();
            assert_eq!(all[0].scores, labelled[0], "{precision:?}");
            let one = score_targets(x.view(), targets.view(), 1, precision, &mut NoTiming);
            assert_eq!(one.unwrap(), (all.clone(), ridge), "threads changed a bit");
            if precision == Precision::Single {
                continue;
            }
            let predicted = predict(x.view(), targets.view(), 0.0, 2, precision, &mut NoTiming);
            let predicted = predicted.unwrap().values;
            for (c, out) in all.iter().enumerate() {
                for i in 0..k {
                    let (y, r) = (targets[(i, c)], out.residual[i]);
                    // f = y − α/D in the prediction: the residual is y − f.
                    assert_eq!(predicted[i * 3 + c], y - r, "column {c} row {i}");
                    // CG = α²/D = r² D, and the terms add up to it.
                    let s = &out.scores;
                    let sum = s.a2[i] + 2.0 * s.ab[i] + s.b2[i];
                    assert!((sum - s.score[i]).abs() <= 1e-10 * s.score[i].max(1.0));
                }
            }
        }
        let nan = Array2::from_elem((k, 1), f64::INFINITY);
        let err = score_targets(x.view(), nan.view(), 1, Precision::Double, &mut NoTiming);
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("targets must be finite"));
        let short = Array2::<f64>::zeros((3, 1));
        assert!(
            score_targets(x.view(), short.view(), 1, Precision::Double, &mut NoTiming).is_err()
        );
    }

    #[test]
    fn labels_other_than_plus_or_minus_one_are_refused() {
        let x = sample(4, 3);
        let labels = Array2::from_shape_vec((4, 1), vec![1.0, -1.0, 0.5, 1.0]).unwrap();
        let err =
            score_labels(x.view(), labels.view(), 1, Precision::Double, &mut NoTiming).unwrap_err();
        assert!(
            err.to_string().contains("row 2 of column 0 is 0.5"),
            "{err}"
        );
    }

    #[test]
    fn gram_is_symmetric_with_half_diagonal() {
        // One tile of the mirror, and several with a ragged last one.
        for k in [11, 150] {
            let h = gram::<f64, _>(sample(k, 4).view(), 1).unwrap();
            for i in 0..k {
                assert_eq!(h[(i, i)], 0.5);
                for j in 0..k {
                    assert_eq!(h[(i, j)], h[(j, i)]);
                }
            }
            assert_eq!(gram::<f64, _>(sample(k, 4).view(), 3).unwrap(), h);
        }
    }

    #[test]
    fn a_padded_column_stride_changes_no_value() {
        // k = 192 is a multiple of 64: its H is laid out with a stride of 200.
        let (k, p) = (192, 70);
        assert_eq!(stride(k), 200);
        let x = sample(k, 29);
        let padded = score(x.view(), p, 2, Precision::Double);
        let rows = normalise_rows(x.view(), Par::Seq).unwrap();
        let mut buf = vec![0.0; k * k];
        let contiguous = with_threads(2, |par| {
            loo::block_scores(
                MatMut::from_column_major_slice_mut(&mut buf, k, k),
                p,
                par,
                |h, rec| kernel_lower(&rows, h, par, rec),
                &mut NoTiming,
            )
        })
        .unwrap();
        for (a, b) in padded.score.iter().zip(&contiguous.score) {
            assert!(
                (a - b).abs() <= 1e-12 * b.abs(),
                "padded {a} contiguous {b}"
            );
        }
    }

    #[test]
    fn thread_count_does_not_change_a_bit() {
        // 640 rows: a padded column stride.
        for k in [700, 640] {
            let x = sample(k, 37);
            for precision in [Precision::Double, Precision::Single] {
                let one = score(x.view(), 300, 1, precision);
                for threads in [2, 3, 4] {
                    assert_eq!(score(x.view(), 300, threads, precision), one);
                }
            }
        }
    }

    /// `k x d` pseudo-random rows in [-0.5, 0.5): no two near-parallel.
    fn noise(k: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut state = seed;
        Array2::from_shape_simple_fn((k, d), || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
    }

    /// The Spearman correlation of `a` and `b` (no ties in these tests).
    fn spearman(a: &[f64], b: &[f64]) -> f64 {
        let ranks = |v: &[f64]| {
            let mut order: Vec<usize> = (0..v.len()).collect();
            order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
            let mut r = vec![0.0; v.len()];
            for (rank, &i) in order.iter().enumerate() {
                r[i] = rank as f64;
            }
            r
        };
        let (ra, rb) = (ranks(a), ranks(b));
        let n = a.len() as f64;
        let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y) * (x - y)).sum();
        1.0 - 6.0 * d2 / (n * (n * n - 1.0))
    }

    #[test]
    fn single_precision_keeps_the_ranking_of_double() {
        // Several solve blocks and inverse panels, a ragged end, positives across panel edges.
        for (k, d, p) in [(600, 64, 250), (1100, 300, 700)] {
            let x = noise(k, d, k as u64);
            let double = score(x.view(), p, 2, Precision::Double);
            let single = score(x.view(), p, 2, Precision::Single);
            assert!(
                !single.fallback && single.ridge == 0.0,
                "k={k}: within float32's reach"
            );
            assert_ne!(
                double, single,
                "single precision should not silently run in f64"
            );
            assert!(spearman(&double.score, &single.score) >= 0.9999, "k={k}");
            // The bound the Python tests document: every term within 2e-3 of the largest.
            for (a, b) in [
                (&double.score, &single.score),
                (&double.a2, &single.a2),
                (&double.ab, &single.ab),
                (&double.b2, &single.b2),
            ] {
                let top = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let worst = a
                    .iter()
                    .zip(b)
                    .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
                assert!(
                    worst <= 2e-3 * top,
                    "k={k}: off by {:e} of the largest",
                    worst / top
                );
            }
        }
    }

    #[test]
    fn single_precision_resolves_near_parallel_pairs_from_their_chord() {
        // Pairs 1e-2 apart: above what float32 resolves, and inside the chord's range
        // (cosines above 0.995), where the cosine's rounding would otherwise dominate H.
        let (k, d, p) = (300, 40, 120);
        let mut x = noise(k, d, 5);
        for r in 200..220 {
            for c in 0..d {
                x[(r, c)] = x[(r - 150, c)] + 1e-2 * (((r * 7 + c * 3) % 11) as f64 / 11.0 - 0.5);
            }
        }
        let double = score(x.view(), p, 2, Precision::Double);
        let single = score(x.view(), p, 2, Precision::Single);
        assert!(!single.fallback);
        assert!(spearman(&double.score, &single.score) >= 0.9999);
        let top = double.score.iter().fold(0.0f64, |m, v| m.max(*v));
        for (a, b) in double.score.iter().zip(&single.score) {
            assert!((a - b).abs() <= 2e-3 * top, "double {a} single {b}");
        }
    }

    #[test]
    fn single_precision_hands_what_float32_cannot_resolve_to_double() {
        let (k, d, p) = (200, 30, 80);
        let base = noise(k, d, 9);
        // Rows 150..160 repeat rows 10..20 up to 1e-5 (near-duplicates), or exactly (duplicates,
        // which take the ridge in float64).
        for (shift, ridged) in [(1e-5, false), (0.0, true)] {
            let mut x = base.clone();
            for r in 150..160 {
                for c in 0..d {
                    x[(r, c)] = x[(r - 140, c)] * (1.0 + shift * (c as f64 - 10.0));
                }
            }
            let double = score(x.view(), p, 2, Precision::Double);
            let single = score(x.view(), p, 2, Precision::Single);
            assert!(single.fallback && !double.fallback);
            assert_eq!(double.ridge > 0.0, ridged, "shift {shift}");
            assert_eq!(
                BlockScores {
                    fallback: false,
                    ..single.clone()
                },
                double
            );
            for threads in [1, 3] {
                assert_eq!(score(x.view(), p, threads, Precision::Single), single);
            }
        }
    }

    #[test]
    fn single_precision_never_takes_a_ridge_in_float32() {
        use crate::cholesky::factor_with_ridge;
        let k = 6;
        let mut h = vec![0.0f32; k * k];
        // Every entry 1/2: every row the same.
        let err = factor_with_ridge(
            MatMut::from_column_major_slice_mut(&mut h, k, k),
            Par::Seq,
            |mut h: MatMut<'_, f32>, _: &mut NoTiming| {
                h.fill(0.5);
                Ok(())
            },
            |_, _| true,
            &mut NoTiming,
        )
        .unwrap_err();
        assert_eq!(err, CoreError::Unresolved);
    }

    #[test]
    fn one_single_factorisation_scores_every_labelling_like_separate_blocks() {
        let (k, d) = (300, 12);
        let x = noise(k, d, 99);
        let labels = Array2::from_shape_fn(
            (k, 2),
            |(i, c)| {
                if (i < 100) ^ (c == 1) {
                    1.0
                } else {
                    -1.0
                }
            },
        );
        let (all, ridge) =
            score_labels(x.view(), labels.view(), 2, Precision::Single, &mut NoTiming).unwrap();
        assert_eq!(ridge, 0.0);
        for (c, out) in all.iter().enumerate() {
            assert!(!out.fallback);
            let pos: Vec<usize> = (0..k).filter(|&i| labels[(i, c)] > 0.0).collect();
            let neg: Vec<usize> = (0..k).filter(|&i| labels[(i, c)] < 0.0).collect();
            let order: Vec<usize> = neg.iter().chain(&pos).copied().collect();
            let block = x.select(ndarray::Axis(0), &order);
            let want = score(block.view(), pos.len(), 1, Precision::Double);
            let got: Vec<f64> = pos.iter().map(|&i| out.score[i]).collect();
            assert!(spearman(&got, &want.score) >= 0.9999);
            let top = want.score.iter().fold(0.0f64, |m, v| m.max(*v));
            for (g, w) in got.iter().zip(&want.score) {
                assert!((g - w).abs() <= 2e-3 * top, "column {c}: {g} vs {w}");
            }
        }
        let one = score_labels(x.view(), labels.view(), 3, Precision::Single, &mut NoTiming);
        assert_eq!(one.unwrap(), (all, ridge), "threads changed a bit");
        // Duplicate rows: float32 cannot factorise, the labellings are scored in float64.
        let mut dup = x.clone();
        dup.row_mut(7).assign(&x.row(250));
        let (single, _) = score_labels(
            dup.view(),
            labels.view(),
            2,
            Precision::Single,
            &mut NoTiming,
        )
        .unwrap();
        let (double, _) = score_labels(
            dup.view(),
            labels.view(),
            2,
            Precision::Double,
            &mut NoTiming,
        )
        .unwrap();
        for (s, d) in single.into_iter().zip(double) {
            assert!(s.fallback);
            assert_eq!(
                BlockScores {
                    fallback: false,
                    ..s
                },
                d
            );
        }
    }

    /// 0..n in a pseudo-random order fixed by `seed` (Fisher–Yates on an LCG).
    fn scrambled(n: usize, seed: u64) -> Vec<usize> {
        let mut state = seed;
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            order.swap(i, (state >> 33) as usize % (i + 1));
        }
        order
    }

    #[test]
    fn single_blocks_gathered_from_a_float32_kernel_score_to_the_bit() {
        // As the float64 test below: scrambled orders, sizes from 1 row to several solve blocks
        // and a padded stride, whole and upper kernels; and a block with a duplicate row, which
        // float32 cannot factorise from the kernel either.
        let (n, d) = (420, 23);
        let mut x = noise(n, d, 31);
        for c in 0..d {
            x[(400, c)] = x[(3, c)];
        }
        let whole = gram::<f32, _>(x.view(), 2).unwrap();
        let upper = gram_upper::<f32, _>(x.view(), 3).unwrap();
        let order = scrambled(n, 11);
        let order: Vec<usize> = order.into_iter().filter(|&i| i != 400).collect();
        for (index, p) in [
            (&order[..1], 1),
            (&order[..2], 1),
            (&order[..97], 40),
            (&order[100..400], 150),
            (&order[200..328], 64),
        ] {
            let block = x.select(ndarray::Axis(0), index);
            let want = score(block.view(), p, 1, Precision::Single);
            assert!(!want.fallback);
            for threads in [1, 2, 3] {
                for (name, from) in [("whole", &whole), ("upper", &upper)] {
                    let got = score_cached(from.view(), index, p, threads, &mut NoTiming).unwrap();
                    assert_eq!(got, want, "{} rows, {threads} threads, {name}", index.len());
                }
            }
        }
        let dup: Vec<usize> = (0..150).chain([400]).chain(150..250).collect();
        let err = score_cached(upper.view(), &dup, 60, 2, &mut NoTiming).unwrap_err();
        assert_eq!(err, CoreError::Unresolved);
        let block = x.select(ndarray::Axis(0), &dup);
        assert!(score(block.view(), 60, 2, Precision::Single).fallback);
    }

    #[test]
    fn the_float32_kernel_is_the_float64_one_to_float32_rounding() {
        let x = noise(150, 700, 2);
        let h64 = gram::<f64, _>(x.view(), 2).unwrap();
        let h32 = gram::<f32, _>(x.view(), 1).unwrap();
        for ((a, b), &v) in h32.indexed_iter() {
            let err = (f64::from(v) - h64[(a, b)]).abs();
            // The float32 Gram's rounding, about √d ulps of a cosine, and H's slope.
            assert!(err <= 2e-6, "H[{a}, {b}] off by {err:e}");
            assert_eq!(v.to_bits(), h32[(b, a)].to_bits());
        }
        assert!((0..150).all(|i| h32[(i, i)] == 0.5));
        assert_eq!(gram::<f32, _>(x.view(), 3).unwrap(), h32);
    }

    #[test]
    fn timing_reports_every_phase_and_changes_no_score() {
        let x = sample(300, 20);
        for precision in [Precision::Double, Precision::Single] {
            let mut t = PhaseTimes::default();
            let scores = score_block(x.view(), 100, 2, precision, &mut t).unwrap();
            assert_eq!(scores, score(x.view(), 100, 1, precision));
            let parts = &t.named()[..6];
            assert!(
                parts.iter().all(|&(_, s)| s > 0.0 && s.is_finite()),
                "{t:?}"
            );
            assert!(parts.iter().map(|&(_, s)| s).sum::<f64>() <= t.total);
        }
    }

    #[test]
    fn f32_block_scores_like_its_f64_widening() {
        let x64 = sample(40, 6);
        let x32 = x64.mapv(|v| v as f32);
        let widened = x32.mapv(f64::from);
        assert_eq!(
            score_block(x32.view(), 15, 2, Precision::Double, &mut NoTiming).unwrap(),
            score(widened.view(), 15, 2, Precision::Double)
        );
    }

    #[test]
    fn complexity_equals_the_quadratic_form_of_the_solve() {
        let (k, d) = (25, 5);
        let x = sample(k, d);
        let labels = Array2::from_shape_fn((k, 2), |(i, c)| {
            if (i < 10) ^ (c == 1 && i % 2 == 0) {
                -1.0
            } else {
                1.0
            }
        });
        let (values, ridge) = complexity(x.view(), labels.view(), 2).unwrap();
        assert_eq!(ridge, 0.0);
        let h = gram::<f64, _>(x.view(), 1).unwrap();
        let mut l: Vec<f64> = h.iter().copied().collect();
        assert!(crate::cholesky::cholesky_lower::<f64>(
            MatMut::from_column_major_slice_mut(&mut l, k, k),
            Par::Seq
        ));
        for (c, value) in values.iter().enumerate() {
            // yᵀ H⁻¹ y ≥ ‖y‖² / λ_max(H) > 0, and H α = y for α from the factor.
            let y = labels.column(c).to_vec();
            let alpha = solve(MatRef::from_column_major_slice(&l, k, k), &y, Par::Seq);
            let quad: f64 = alpha.iter().zip(&y).map(|(a, b)| a * b).sum();
            assert!(*value > 0.0 && (quad - value).abs() < 1e-9 * value);
            // One column alone gives the same bits as that column among others.
            let (alone, _) = complexity(x.view(), labels.slice(ndarray::s![.., c..=c]), 3).unwrap();
            assert_eq!(alone[0].to_bits(), value.to_bits());
        }
    }

    #[test]
    fn the_upper_kernel_is_the_whole_one_right_of_its_diagonal() {
        let x = sample(150, 9);
        let whole = gram::<f64, _>(x.view(), 2).unwrap();
        let upper = gram_upper::<f64, _>(x.view(), 3).unwrap();
        for ((a, b), &v) in upper.indexed_iter() {
            if b >= a {
                assert_eq!(v.to_bits(), whole[(a, b)].to_bits(), "H[{a}, {b}]");
            } else {
                assert_eq!(v, 0.0, "H[{a}, {b}] left of the diagonal");
            }
        }
    }

    #[test]
    fn blocks_gathered_from_the_kernel_score_to_the_bit() {
        // Gathered in a scrambled order, positives anywhere in X, and a block with duplicate
        // rows that needs the ridge (whose retries gather again).
        let (n, d) = (420, 23);
        let mut x = sample(n, d);
        for c in 0..d {
            x[(400, c)] = x[(3, c)];
        }
        let kernel = gram::<f64, _>(x.view(), 2).unwrap();
        let upper = gram_upper::<f64, _>(x.view(), 2).unwrap();
        let order = scrambled(n, 7);
        let dup: Vec<usize> = (0..150).chain([400]).chain(150..250).collect();
        for (index, p) in [
            (&order[..1], 1),
            (&order[..97], 40),
            (&order[100..400], 150),
            (&order[200..328], 64), // a padded column stride
            (&dup[..], 60),
        ] {
            let block = x.select(ndarray::Axis(0), index);
            let want = score(block.view(), p, 1, Precision::Double);
            for threads in [1, 2, 3] {
                for (name, from) in [("whole", &kernel), ("upper", &upper)] {
                    let got = score_cached(from.view(), index, p, threads, &mut NoTiming).unwrap();
                    assert_eq!(
                        got,
                        want,
                        "block of {} with {p} positives, {threads} threads, {name} kernel",
                        index.len()
                    );
                }
            }
        }
        // As the plan lists a block: negatives, then positives, each in increasing order.
        let mut negatives: Vec<usize> = order[..150].to_vec();
        let mut positives: Vec<usize> = order[150..230].to_vec();
        negatives.sort_unstable();
        positives.sort_unstable();
        let planned: Vec<usize> = negatives.into_iter().chain(positives).collect();
        let block = x.select(ndarray::Axis(0), &planned);
        let want = score(block.view(), 80, 1, Precision::Double);
        let got = score_cached(upper.view(), &planned, 80, 2, &mut NoTiming).unwrap();
        assert_eq!(got, want, "a block in the plan's order, upper kernel");
        let ridged = score_cached(upper.view(), &dup, 60, 1, &mut NoTiming).unwrap();
        assert!(
            ridged.ridge > 0.0,
            "the duplicate rows should have needed the ridge"
        );
    }

    #[test]
    fn cached_scoring_refuses_bad_indices_and_shapes() {
        let kernel = gram::<f64, _>(sample(5, 3).view(), 1).unwrap();
        let err = score_cached(kernel.view(), &[0, 5], 1, 1, &mut NoTiming).unwrap_err();
        assert!(
            err.to_string().contains("row 5 of a kernel of 5 rows"),
            "{err}"
        );
        let err = score_cached(kernel.view(), &[0, 1], 3, 1, &mut NoTiming).unwrap_err();
        assert!(
            err.to_string().contains("3 positives in a block of 2"),
            "{err}"
        );
        let wide = Array2::<f64>::zeros((2, 3));
        assert!(score_cached(wide.view(), &[0], 1, 1, &mut NoTiming).is_err());
    }
}

#[cfg(test)]
mod cross_tests {
    use super::*;
    use crate::gram::tests::sample;

    /// The whole kernel of `n` rows in `E` (row a holds H[a, b], b ≥ a) and the cross kernel
    /// between rows `split..` and rows `..split` as [`predict_out`] builds it, chunk by chunk.
    fn both<E: Real>(x: &[f64], n: usize, d: usize, split: usize, par: Par) -> (Array2<E>, Mat<E>) {
        let view = ArrayView2::from_shape((n, d), x).unwrap();
        let whole = gram_upper::<E, f64>(view, 2).unwrap();
        let fit = normalise_rows(view.slice(s![..split, ..]), par).unwrap();
        let query = normalise_rows(view.slice(s![split.., ..]), par).unwrap();
        let fu = E::narrow_slice(fit.as_slice(), par);
        let qu = E::narrow_slice(query.as_slice(), par);
        let q = n - split;
        let mut c = Mat::<E>::zeros(q, split);
        for first in (0..q).step_by(CROSS_ROWS) {
            let rows = CROSS_ROWS.min(q - first);
            let part = c.as_mut().subrows_mut(first, rows);
            cross_kernel(&fu, &qu[first * d..(first + rows) * d], d, part, par);
        }
        (whole, c)
    }

    /// `times_coefficients` against the plain loop it must equal to the bit: each sum over the
    /// fitted rows in increasing order, in f64.
    fn product_bits<E: Real>(r: usize, k: usize, m: usize) {
        let x = sample(r + k, m.max(2), (r * 7 + k * 3 + m) as u64);
        let c = Mat::<E>::from_fn(r, k, |i, j| E::narrow(x[(i * 13 + j * 7) % x.len()] - 0.3));
        let a_rows: Vec<f64> = (0..k * m)
            .map(|t| x[(t * 11) % x.len()] * 5.0 - 2.0)
            .collect();
        let mut want = vec![0.0f64; r * m];
        for i in 0..r {
            for cl in 0..m {
                let mut sum = 0.0f64;
                for j in 0..k {
                    sum += c[(i, j)].to_f64() * a_rows[j * m + cl];
                }
                want[i * m + cl] = sum;
            }
        }
        for par in [Par::Seq, Par::rayon(3)] {
            let mut got = vec![f64::NAN; r * m];
            times_coefficients(c.as_ref(), &a_rows, m, &mut got, par);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{r} x {k}, m = {m}, {par:?}");
        }
    }

    #[test]
    fn the_product_with_the_coefficients_sums_each_row_in_order() {
        for (r, k) in [(1, 1), (1, 40), (63, 17), (64, 64), (65, 5), (130, 300)] {
            for m in [0, 1, 3, 10] {
                product_bits::<f64>(r, k, m);
                product_bits::<f32>(r, k, m);
            }
        }
    }

    fn same_bits<E: Real>(n: usize, d: usize, split: usize, par: Par) {
        let mut x = sample(n, d, (n * 31 + d) as u64);
        // a duplicate pair across the split, and a near-parallel one
        if split >= 1 && n > split + 1 {
            x.copy_within(0..d, split * d);
            for j in 0..d {
                x[(split + 1) * d + j] = x[j] * (1.0 + 1e-9 * (j as f64));
            }
        }
        let (whole, c) = both::<E>(&x, n, d, split, par);
        for i in 0..n - split {
            for j in 0..split {
                let want = whole[(j, split + i)];
                assert!(
                    c[(i, j)].to_f64().to_bits() == want.to_f64().to_bits(),
                    "n={n} d={d} split={split} pair ({}, {j}): {} vs {}",
                    split + i,
                    c[(i, j)].to_f64(),
                    want.to_f64()
                );
            }
        }
    }

    #[test]
    fn cross_kernel_values_are_the_whole_kernels_bits() {
        for par in [Par::Seq, Par::rayon(3)] {
            // Every split of kernels from 32 rows (the engine copies no prediction's values
            // out of a smaller kernel), a fit or a prediction of one row included, and chunks
            // of CROSS_ROWS with a last chunk of one row.
            let mut cases = vec![(2 * CROSS_ROWS + 1 + 300, 300), (1500, 1)];
            for n in [32usize, 33, 48, 100] {
                for split in [1usize, 2, 3, 4, 8, 15, 16, 17, n / 2, n - 4, n - 2, n - 1] {
                    cases.push((n, split));
                }
            }
            for &(n, split) in &cases {
                for d in [1, 3, 7, 16, 33, 130, 784] {
                    same_bits::<f64>(n, d, split, par);
                    same_bits::<f32>(n, d, split, par);
                }
            }
        }
    }
}
