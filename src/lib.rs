//! Python bindings of the numerical core: argument conversion, GIL release, errors to exceptions.

pub mod arccos;
pub mod block;
pub mod cholesky;
pub mod element;
pub mod error;
pub mod gram;
pub mod loo;
pub mod near;
pub mod precision;
#[cfg(test)]
mod proptests;
pub mod real;
pub mod rows;
pub mod simd;
pub mod solve;
pub mod threads;
pub mod timing;
pub mod transform;
pub mod views;

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::ndarray::{Array2, Array3};
use numpy::{PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::CoreError;
use crate::loo::{BlockScores, Predictions, TargetScores};
use crate::precision::Precision;
use crate::real::Real;
use crate::timing::{NoTiming, PhaseTimes};

pyo3::create_exception!(
    _core,
    SingularKernelError,
    PyValueError,
    "H stayed singular even with the largest ridge: the block holds (near-)duplicate rows."
);
pyo3::create_exception!(
    _core,
    InternalError,
    PyRuntimeError,
    "A bug in cgfast's native core; please report it with the input that triggered it."
);

fn to_py(err: CoreError) -> PyErr {
    match err {
        CoreError::NotPositiveDefinite { .. } => SingularKernelError::new_err(err.to_string()),
        CoreError::NonFinite(_) | CoreError::Unresolved => InternalError::new_err(err.to_string()),
        CoreError::Shape(_) | CoreError::BadRow { .. } => PyValueError::new_err(err.to_string()),
        CoreError::OutOfMemory { .. } => PyMemoryError::new_err(err.to_string()),
    }
}

/// Runs `f` without the GIL and turns both errors and panics into Python exceptions.
fn run_detached<R: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<R, CoreError> + Send,
) -> PyResult<R> {
    match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(result) => result.map_err(to_py),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(InternalError::new_err(format!(
                "native core panicked: {msg}"
            )))
        }
    }
}

/// The one place a precision name becomes the core's enum.
fn parse_precision(name: &str) -> PyResult<Precision> {
    name.parse().map_err(PyValueError::new_err)
}

/// What a block's scoring function returns to Python: terms, ridge, fallback.
type Scored<'py> = (Bound<'py, PyArray2<f64>>, f64, bool);

/// The terms of a block as a `(4, p)` array: score, a2, ab, b2.
fn terms_array<'py>(py: Python<'py>, out: BlockScores) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let p = out.score.len();
    let rows = [out.score, out.a2, out.ab, out.b2].concat();
    let terms =
        Array2::from_shape_vec((4, p), rows).map_err(|e| InternalError::new_err(e.to_string()))?;
    Ok(PyArray2::from_owned_array(py, terms))
}

/// The terms of every labelling as an `(m, 4, k)` array: per column, score, a2, ab, b2 by row.
fn labelled_terms_array<'py>(
    py: Python<'py>,
    all: Vec<BlockScores>,
    k: usize,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let m = all.len();
    let flat: Vec<f64> = all
        .into_iter()
        .flat_map(|out| [out.score, out.a2, out.ab, out.b2].concat())
        .collect();
    let terms = Array3::from_shape_vec((m, 4, k), flat)
        .map_err(|e| InternalError::new_err(e.to_string()))?;
    Ok(PyArray3::from_owned_array(py, terms))
}

/// The scores of every target as an `(m, 5, k)` array: per column, score, a2, ab, b2 and the
/// leave-one-out residual by row.
fn target_terms_array<'py>(
    py: Python<'py>,
    all: Vec<TargetScores>,
    k: usize,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let m = all.len();
    let flat: Vec<f64> = all
        .into_iter()
        .flat_map(|out| {
            let s = out.scores;
            [s.score, s.a2, s.ab, s.b2, out.residual].concat()
        })
        .collect();
    let terms = Array3::from_shape_vec((m, 5, k), flat)
        .map_err(|e| InternalError::new_err(e.to_string()))?;
    Ok(PyArray3::from_owned_array(py, terms))
}

/// Row indices from Python, refused when negative.
fn row_indices(index: PyReadonlyArray1<'_, i64>) -> PyResult<Vec<usize>> {
    index
        .as_array()
        .iter()
        .map(|&i| usize::try_from(i))
        .collect::<Result<_, _>>()
        .map_err(|_| PyValueError::new_err("row indices must not be negative"))
}

/// What a block's prediction function returns to Python: predictions, ridge, fallback.
type Predicted<'py> = (Bound<'py, PyArray2<f64>>, f64, bool);

/// A block's predictions as a (k, m) array, with the ridge and the fallback.
fn predictions_array(
    py: Python<'_>,
    out: Predictions,
    (k, m): (usize, usize),
) -> PyResult<Predicted<'_>> {
    let values = Array2::from_shape_vec((k, m), out.values)
        .map_err(|e| InternalError::new_err(e.to_string()))?;
    Ok((
        PyArray2::from_owned_array(py, values),
        out.ridge,
        out.fallback,
    ))
}

macro_rules! bind_dtype {
    ($t:ty, $score:ident, $profile:ident, $labels:ident, $targets:ident, $predict:ident, $gram:ident, $complexity:ident) => {
        /// Scores the last `n_pos` rows of the block `x` against the rows before them.
        ///
        /// `precision`: "single" or "double". Returns (terms, ridge, fallback): terms
        /// is (4, n_pos), the rows score, a2, ab, b2 of the positives in block order; fallback
        /// is True when float32 was asked for and the block was scored in float64 instead.
        #[pyfunction]
        #[pyo3(signature = (x, n_pos, threads=0, precision="double"))]
        fn $score<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            n_pos: usize,
            threads: usize,
            precision: &str,
        ) -> PyResult<(Bound<'py, PyArray2<f64>>, f64, bool)> {
            let precision = parse_precision(precision)?;
            let x = x.as_array();
            let out = run_detached(py, || {
                block::score_block(x, n_pos, threads, precision, &mut NoTiming)
            })?;
            let (ridge, fallback) = (out.ridge, out.fallback);
            Ok((terms_array(py, out)?, ridge, fallback))
        }

        /// Like the scoring function, also returning the seconds of each phase, for benchmarks.
        #[pyfunction]
        #[pyo3(signature = (x, n_pos, threads=0, precision="double"))]
        fn $profile<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            n_pos: usize,
            threads: usize,
            precision: &str,
        ) -> PyResult<(Bound<'py, PyArray2<f64>>, f64, bool, Bound<'py, PyDict>)> {
            let precision = parse_precision(precision)?;
            let x = x.as_array();
            let (out, t) = run_detached(py, || {
                let mut t = PhaseTimes::default();
                block::score_block(x, n_pos, threads, precision, &mut t).map(|out| (out, t))
            })?;
            let times = PyDict::new(py);
            for (name, seconds) in t.named() {
                times.set_item(name, seconds)?;
            }
            let (ridge, fallback) = (out.ridge, out.fallback);
            Ok((terms_array(py, out)?, ridge, fallback, times))
        }

        /// Scores every row of `x` under each labelling in the columns of `labels` (k x m, ±1),
        /// from one factorisation in `precision`. Returns (terms, ridge, fallback): terms is
        /// (m, 4, k), per labelling the rows score, a2, ab, b2 of every example in block order.
        #[pyfunction]
        #[pyo3(signature = (x, labels, threads=0, precision="double"))]
        fn $labels<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            labels: PyReadonlyArray2<'py, f64>,
            threads: usize,
            precision: &str,
        ) -> PyResult<(Bound<'py, PyArray3<f64>>, f64, bool)> {
            let precision = parse_precision(precision)?;
            let k = x.as_array().nrows();
            let x = x.as_array();
            let labels = labels.as_array();
            let (all, ridge) = run_detached(py, || {
                block::score_labels(x, labels, threads, precision, &mut NoTiming)
            })?;
            let fallback = all.iter().any(|out| out.fallback);
            Ok((labelled_terms_array(py, all, k)?, ridge, fallback))
        }

        /// Scores every row of `x` for each real-valued target in the columns of `targets`
        /// (k x m, finite), from one factorisation in `precision`. Returns (terms, ridge,
        /// fallback): terms is (m, 5, k), per target the rows score, a2, ab, b2 and the
        /// leave-one-out residual α_i / G_ii of every row in block order.
        #[pyfunction]
        #[pyo3(signature = (x, targets, threads=0, precision="double"))]
        fn $targets<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            targets: PyReadonlyArray2<'py, f64>,
            threads: usize,
            precision: &str,
        ) -> PyResult<(Bound<'py, PyArray3<f64>>, f64, bool)> {
            let precision = parse_precision(precision)?;
            let k = x.as_array().nrows();
            let x = x.as_array();
            let targets = targets.as_array();
            let (all, ridge) = run_detached(py, || {
                block::score_targets(x, targets, threads, precision, &mut NoTiming)
            })?;
            let fallback = all.iter().any(|out| out.scores.fallback);
            Ok((target_terms_array(py, all, k)?, ridge, fallback))
        }

        /// Leave-one-out predictions of the kernel regressor on the rows of `x` for each
        /// column of `targets` (k x m), H factorised in `precision`: (predictions (k, m),
        /// ridge, fallback), fallback True when float32 was asked for and the block was
        /// predicted in float64 instead.
        ///
        /// With `fitted`, the regressor is fitted to the first `fitted` rows (`targets` holds
        /// theirs) and predicts the others: predictions (k − fitted, m). `shift > 0` (leave-one-out
        /// only) predicts with kernel ridge regression, H + shift · mean(diag H) · I.
        #[pyfunction]
        #[pyo3(signature = (x, targets, threads=0, precision="double", fitted=None, shift=0.0))]
        fn $predict<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            targets: PyReadonlyArray2<'py, f64>,
            threads: usize,
            precision: &str,
            fitted: Option<usize>,
            shift: f64,
        ) -> PyResult<Predicted<'py>> {
            let precision = parse_precision(precision)?;
            check_shift(fitted, shift)?;
            let x = x.as_array();
            let targets = targets.as_array();
            let (k, m) = (x.nrows(), targets.ncols());
            let out = run_detached(py, || match fitted {
                None => block::predict(x, targets, shift, threads, precision, &mut NoTiming),
                Some(f) => block::predict_out(x, f, targets, threads, precision, &mut NoTiming),
            })?;
            predictions_array(py, out, (predicted_rows(k, fitted), m))
        }

        /// The arc-cosine kernel matrix H of the rows of `x`, float64 or, with
        /// `precision="single"`, float32 (as a block of that precision builds it): all of it, or
        /// with `whole=False` only the entries on and right of the diagonal (0 elsewhere), which
        /// is what `score_cached` reads and costs less to build.
        #[pyfunction]
        #[pyo3(signature = (x, threads=0, whole=true, precision="double"))]
        fn $gram<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            threads: usize,
            whole: bool,
            precision: &str,
        ) -> PyResult<Bound<'py, PyAny>> {
            let x = x.as_array();
            let build = if whole {
                block::gram::<f64, $t>
            } else {
                block::gram_upper::<f64, $t>
            };
            if parse_precision(precision)? == Precision::Single {
                let build = if whole {
                    block::gram::<f32, $t>
                } else {
                    block::gram_upper::<f32, $t>
                };
                let h = run_detached(py, || build(x, threads))?;
                return Ok(PyArray2::from_owned_array(py, h).into_any());
            }
            let h = run_detached(py, || build(x, threads))?;
            Ok(PyArray2::from_owned_array(py, h).into_any())
        }

        /// yᵀ H⁻¹ y for the rows of `x` and each column y of `labels` (k x m), from one
        /// factorisation; returns (values (m,), ridge).
        #[pyfunction]
        #[pyo3(signature = (x, labels, threads=0))]
        fn $complexity<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            labels: PyReadonlyArray2<'py, f64>,
            threads: usize,
        ) -> PyResult<(Bound<'py, PyArray1<f64>>, f64)> {
            let x = x.as_array();
            let labels = labels.as_array();
            let (values, ridge) = run_detached(py, || block::complexity(x, labels, threads))?;
            Ok((PyArray1::from_vec(py, values), ridge))
        }
    };
}

bind_dtype!(
    f32,
    score_block_f32,
    profile_block_f32,
    score_block_labels_f32,
    score_block_targets_f32,
    predict_f32,
    gram_f32,
    complexity_f32
);
bind_dtype!(
    f64,
    score_block_f64,
    profile_block_f64,
    score_block_labels_f64,
    score_block_targets_f64,
    predict_f64,
    gram_f64,
    complexity_f64
);

/// Scores the last `n_pos` of the rows `index` of X against the others, gathering their H from
/// `kernel`, the H of X as `gram_f64` or `gram_f32` returns it (whole or not), in float64: the
/// same bits as `score_block_f64` on those rows with precision "double". Returns
/// (terms, ridge, False).
#[pyfunction]
#[pyo3(signature = (kernel, index, n_pos, threads=0))]
fn score_cached_f64<'py>(
    py: Python<'py>,
    kernel: PyReadonlyArray2<'py, f64>,
    index: PyReadonlyArray1<'py, i64>,
    n_pos: usize,
    threads: usize,
) -> PyResult<(Bound<'py, PyArray2<f64>>, f64, bool)> {
    let index = row_indices(index)?;
    let kernel = kernel.as_array();
    let out = run_detached(py, || {
        block::score_cached(kernel, &index, n_pos, threads, &mut NoTiming)
    })?;
    let (ridge, fallback) = (out.ridge, out.fallback);
    Ok((terms_array(py, out)?, ridge, fallback))
}

/// `score_cached_f64` from a float32 kernel (`gram_*(..., precision="single")`): the same bits
/// as a "single" block of those rows, or None when float32 cannot factorise the block, which
/// is then for the caller to score from its rows in float64.
#[pyfunction]
#[pyo3(signature = (kernel, index, n_pos, threads=0))]
fn score_cached_f32<'py>(
    py: Python<'py>,
    kernel: PyReadonlyArray2<'py, f32>,
    index: PyReadonlyArray1<'py, i64>,
    n_pos: usize,
    threads: usize,
) -> PyResult<Option<Scored<'py>>> {
    let index = row_indices(index)?;
    let kernel = kernel.as_array();
    let out = run_detached(py, || {
        match block::score_cached(kernel, &index, n_pos, threads, &mut NoTiming) {
            Err(CoreError::Unresolved) => Ok(None),
            other => other.map(Some),
        }
    })?;
    let Some(out) = out else { return Ok(None) };
    let (ridge, fallback) = (out.ridge, out.fallback);
    Ok(Some((terms_array(py, out)?, ridge, fallback)))
}

/// `predict_f64` for the rows `index` of X, their H gathered from `kernel` (as `score_cached`
/// does) in float64: the same bits as precision "double". Returns (predictions (k, m), ridge,
/// False).
/// With `fitted`, as `predict_f64` with `fitted`: the first `fitted` rows of `index` fitted, the
/// others predicted.
#[pyfunction]
#[pyo3(signature = (kernel, index, targets, threads=0, fitted=None, shift=0.0))]
fn predict_cached_f64<'py>(
    py: Python<'py>,
    kernel: PyReadonlyArray2<'py, f64>,
    index: PyReadonlyArray1<'py, i64>,
    targets: PyReadonlyArray2<'py, f64>,
    threads: usize,
    fitted: Option<usize>,
    shift: f64,
) -> PyResult<Predicted<'py>> {
    check_shift(fitted, shift)?;
    let index = row_indices(index)?;
    let kernel = kernel.as_array();
    let targets = targets.as_array();
    let shape = (predicted_rows(index.len(), fitted), targets.ncols());
    let out = run_detached(py, || {
        cached_predictions(kernel, &index, fitted, targets, shift, threads)
    })?;
    predictions_array(py, out, shape)
}

/// A ridge `shift` is a finite number ≥ 0, and only for leave-one-out predictions.
fn check_shift(fitted: Option<usize>, shift: f64) -> PyResult<()> {
    if !(shift.is_finite() && shift >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "shift must be a finite number >= 0, got {shift}"
        )));
    }
    if fitted.is_some() && shift != 0.0 {
        return Err(PyValueError::new_err(
            "shift applies to leave-one-out predictions, not with fitted",
        ));
    }
    Ok(())
}

/// Rows a block of `k` predicts: all of them leave-one-out, or those after the `fitted` ones.
fn predicted_rows(k: usize, fitted: Option<usize>) -> usize {
    k - fitted.unwrap_or(0).min(k)
}

/// Leave-one-out predictions of the rows `index` of the kernel, or with `fitted` the
/// out-of-block ones.
fn cached_predictions<E: Real>(
    kernel: ndarray::ArrayView2<'_, E>,
    index: &[usize],
    fitted: Option<usize>,
    targets: ndarray::ArrayView2<'_, f64>,
    shift: f64,
    threads: usize,
) -> Result<Predictions, CoreError> {
    match fitted {
        None => block::predict_cached(kernel, index, targets, shift, threads, &mut NoTiming),
        Some(f) => block::predict_out_cached(kernel, index, f, targets, threads, &mut NoTiming),
    }
}

/// `predict_cached_f64` from a float32 kernel: the same bits as precision "single" on those
/// rows, or None when float32 cannot factorise the block, which is then for the caller to
/// predict from its rows in float64.
#[pyfunction]
#[pyo3(signature = (kernel, index, targets, threads=0, fitted=None, shift=0.0))]
fn predict_cached_f32<'py>(
    py: Python<'py>,
    kernel: PyReadonlyArray2<'py, f32>,
    index: PyReadonlyArray1<'py, i64>,
    targets: PyReadonlyArray2<'py, f64>,
    threads: usize,
    fitted: Option<usize>,
    shift: f64,
) -> PyResult<Option<Predicted<'py>>> {
    check_shift(fitted, shift)?;
    let index = row_indices(index)?;
    let kernel = kernel.as_array();
    let targets = targets.as_array();
    let shape = (predicted_rows(index.len(), fitted), targets.ncols());
    let out = run_detached(py, || {
        match cached_predictions(kernel, &index, fitted, targets, shift, threads) {
            Err(CoreError::Unresolved) => Ok(None),
            other => other.map(Some),
        }
    })?;
    out.map(|out| predictions_array(py, out, shape)).transpose()
}

/// Rows `index` of the file `path` (each `width` bytes, row `i` at `offset + i * width`) as a
/// (len(index), width) array of bytes, read with positioned reads rather than through a memory
/// map, on up to `threads` threads. A file cut short raises `EOFError` whose argument is the
/// file's size.
#[pyfunction]
fn read_rows<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    offset: u64,
    width: usize,
    index: PyReadonlyArray1<'py, i64>,
    threads: usize,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let index: Vec<u64> = row_indices(index)?.into_iter().map(|i| i as u64).collect();
    let rows = index.len();
    let bytes = rows
        .checked_mul(width)
        .ok_or_else(|| PyValueError::new_err("rows x width overflows"))?;
    let file = std::fs::File::open(&path)?;
    let out = py.detach(|| {
        let mut out = vec![0u8; bytes];
        rows::read_rows(&file, offset, width, &index, &mut out, threads).map(|()| out)
    });
    match out {
        Ok(out) => {
            let array = Array2::from_shape_vec((rows, width), out)
                .map_err(|e| InternalError::new_err(e.to_string()))?;
            Ok(PyArray2::from_owned_array(py, array))
        }
        Err(rows::ReadError::Short { size }) => Err(pyo3::exceptions::PyEOFError::new_err(size)),
        Err(rows::ReadError::Io(e)) => Err(e.into()),
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(score_block_f32, m)?)?;
    m.add_function(wrap_pyfunction!(score_block_f64, m)?)?;
    m.add_function(wrap_pyfunction!(profile_block_f32, m)?)?;
    m.add_function(wrap_pyfunction!(profile_block_f64, m)?)?;
    m.add_function(wrap_pyfunction!(score_block_labels_f32, m)?)?;
    m.add_function(wrap_pyfunction!(score_block_labels_f64, m)?)?;
    m.add_function(wrap_pyfunction!(score_block_targets_f32, m)?)?;
    m.add_function(wrap_pyfunction!(score_block_targets_f64, m)?)?;
    m.add_function(wrap_pyfunction!(score_cached_f32, m)?)?;
    m.add_function(wrap_pyfunction!(score_cached_f64, m)?)?;
    m.add_function(wrap_pyfunction!(predict_f32, m)?)?;
    m.add_function(wrap_pyfunction!(predict_f64, m)?)?;
    m.add_function(wrap_pyfunction!(predict_cached_f32, m)?)?;
    m.add_function(wrap_pyfunction!(predict_cached_f64, m)?)?;
    m.add_function(wrap_pyfunction!(gram_f32, m)?)?;
    m.add_function(wrap_pyfunction!(gram_f64, m)?)?;
    m.add_function(wrap_pyfunction!(complexity_f32, m)?)?;
    m.add_function(wrap_pyfunction!(complexity_f64, m)?)?;
    m.add_function(wrap_pyfunction!(read_rows, m)?)?;
    m.add(
        "SingularKernelError",
        m.py().get_type::<SingularKernelError>(),
    )?;
    m.add("InternalError", m.py().get_type::<InternalError>())?;
    m.add("FIRST_RIDGE", cholesky::FIRST_RIDGE)?;
    m.add("MAX_RIDGE", cholesky::MAX_RIDGE)?;
    Ok(())
}
