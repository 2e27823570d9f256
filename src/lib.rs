//! Python bindings of the numerical core: argument conversion, GIL release, errors to exceptions.

pub mod block;
pub mod error;
pub mod kernel;
pub mod loo;
#[cfg(test)]
mod proptests;
pub mod threads;

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::CoreError;
use crate::kernel::Precision;

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
        CoreError::NonFinite(_) => InternalError::new_err(err.to_string()),
        CoreError::Shape(_) | CoreError::BadRow { .. } => PyValueError::new_err(err.to_string()),
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

fn block_dims<T: numpy::Element>(x: &PyReadonlyArray2<'_, T>) -> PyResult<(usize, usize)> {
    let shape = x.shape();
    Ok((shape[0], shape[1]))
}

fn contiguous<'a, T: numpy::Element>(x: &'a PyReadonlyArray2<'_, T>) -> PyResult<&'a [T]> {
    x.as_slice()
        .map_err(|_| PyValueError::new_err("the block must be a C-contiguous 2-D array"))
}

fn precision(mixed: bool) -> Precision {
    if mixed {
        Precision::Mixed
    } else {
        Precision::Double
    }
}

type Scores<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    f64,
);

macro_rules! bind_dtype {
    ($t:ty, $score:ident, $profile:ident, $gram:ident, $complexity:ident) => {
        /// Scores the last `n_pos` rows of the block `x` against the rows before them.
        ///
        /// `mixed`: inner products in f32, factorisation in f64.
        /// Returns (score, a2, ab, b2, ridge) for the positives in block order.
        #[pyfunction]
        #[pyo3(signature = (x, n_pos, threads=0, mixed=false))]
        fn $score<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            n_pos: usize,
            threads: usize,
            mixed: bool,
        ) -> PyResult<Scores<'py>> {
            let (k, d) = block_dims(&x)?;
            let data = contiguous(&x)?;
            let out = run_detached(py, || {
                block::score_block_in(data, k, d, n_pos, threads, precision(mixed))
            })?;
            Ok((
                PyArray1::from_vec(py, out.score),
                PyArray1::from_vec(py, out.a2),
                PyArray1::from_vec(py, out.ab),
                PyArray1::from_vec(py, out.b2),
                out.ridge,
            ))
        }

        /// Like the scoring function, returning (score, seconds per phase) for benchmarks.
        #[pyfunction]
        #[pyo3(signature = (x, n_pos, threads=0, mixed=false))]
        fn $profile<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            n_pos: usize,
            threads: usize,
            mixed: bool,
        ) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyDict>)> {
            let (k, d) = block_dims(&x)?;
            let data = contiguous(&x)?;
            let (out, t) = run_detached(py, || {
                block::profile_block(data, k, d, n_pos, threads, precision(mixed))
            })?;
            let times = PyDict::new(py);
            for (name, seconds) in [
                ("normalise", t.normalise),
                ("gram", t.gram),
                ("transform", t.transform),
                ("cholesky", t.cholesky),
                ("solve", t.solve),
                ("inverse", t.inverse),
                ("total", t.total),
            ] {
                times.set_item(name, seconds)?;
            }
            Ok((PyArray1::from_vec(py, out.score), times))
        }

        /// The full arc-cosine kernel matrix H of the rows of `x`.
        #[pyfunction]
        #[pyo3(signature = (x, threads=0))]
        fn $gram<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            threads: usize,
        ) -> PyResult<Bound<'py, PyArray2<f64>>> {
            let (k, d) = block_dims(&x)?;
            let data = contiguous(&x)?;
            let h = run_detached(py, || block::gram(data, k, d, threads))?;
            let h = numpy::ndarray::Array2::from_shape_vec((k, k), h)
                .map_err(|e| InternalError::new_err(e.to_string()))?;
            Ok(PyArray2::from_owned_array(py, h))
        }

        /// yᵀ H⁻¹ y for the rows of `x` and labels `y`; returns (value, ridge).
        #[pyfunction]
        #[pyo3(signature = (x, y, threads=0))]
        fn $complexity<'py>(
            py: Python<'py>,
            x: PyReadonlyArray2<'py, $t>,
            y: PyReadonlyArray1<'py, f64>,
            threads: usize,
        ) -> PyResult<(f64, f64)> {
            let (k, d) = block_dims(&x)?;
            let data = contiguous(&x)?;
            let labels = y
                .as_slice()
                .map_err(|_| PyValueError::new_err("y must be a contiguous 1-D array"))?;
            run_detached(py, || block::complexity(data, k, d, labels, threads))
        }
    };
}

bind_dtype!(
    f32,
    score_block_f32,
    profile_block_f32,
    gram_f32,
    complexity_f32
);
bind_dtype!(
    f64,
    score_block_f64,
    profile_block_f64,
    gram_f64,
    complexity_f64
);

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(score_block_f32, m)?)?;
    m.add_function(wrap_pyfunction!(score_block_f64, m)?)?;
    m.add_function(wrap_pyfunction!(profile_block_f32, m)?)?;
    m.add_function(wrap_pyfunction!(profile_block_f64, m)?)?;
    m.add_function(wrap_pyfunction!(gram_f32, m)?)?;
    m.add_function(wrap_pyfunction!(gram_f64, m)?)?;
    m.add_function(wrap_pyfunction!(complexity_f32, m)?)?;
    m.add_function(wrap_pyfunction!(complexity_f64, m)?)?;
    m.add(
        "SingularKernelError",
        m.py().get_type::<SingularKernelError>(),
    )?;
    m.add("InternalError", m.py().get_type::<InternalError>())?;
    m.add("FIRST_RIDGE", loo::FIRST_RIDGE)?;
    m.add("MAX_RIDGE", loo::MAX_RIDGE)?;
    Ok(())
}
