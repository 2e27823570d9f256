# Type stubs of the native extension cgfast._core (checked against the built module by stubtest).
import numpy as np
import numpy.typing as npt

__all__ = [
    "score_block_f32",
    "score_block_f64",
    "profile_block_f32",
    "profile_block_f64",
    "score_block_labels_f32",
    "score_block_labels_f64",
    "score_block_targets_f32",
    "score_block_targets_f64",
    "score_cached_f32",
    "score_cached_f64",
    "predict_f32",
    "predict_f64",
    "predict_cached_f32",
    "predict_cached_f64",
    "gram_f32",
    "gram_f64",
    "complexity_f32",
    "complexity_f64",
    "read_rows",
    "SingularKernelError",
    "InternalError",
    "FIRST_RIDGE",
    "MAX_RIDGE",
]

FIRST_RIDGE: float
MAX_RIDGE: float

class SingularKernelError(ValueError): ...
class InternalError(RuntimeError): ...

_F64 = npt.NDArray[np.float64]

def score_block_f32(
    x: npt.NDArray[np.float32], n_pos: int, threads: int = 0, precision: str = "double"
) -> tuple[_F64, float, bool]: ...
def score_block_f64(
    x: _F64, n_pos: int, threads: int = 0, precision: str = "double"
) -> tuple[_F64, float, bool]: ...
def profile_block_f32(
    x: npt.NDArray[np.float32], n_pos: int, threads: int = 0, precision: str = "double"
) -> tuple[_F64, float, bool, dict[str, float]]: ...
def profile_block_f64(
    x: _F64, n_pos: int, threads: int = 0, precision: str = "double"
) -> tuple[_F64, float, bool, dict[str, float]]: ...
def score_cached_f32(
    kernel: npt.NDArray[np.float32], index: npt.NDArray[np.int64], n_pos: int, threads: int = 0
) -> tuple[_F64, float, bool] | None: ...
def score_cached_f64(
    kernel: _F64, index: npt.NDArray[np.int64], n_pos: int, threads: int = 0
) -> tuple[_F64, float, bool]: ...
def score_block_labels_f32(
    x: npt.NDArray[np.float32], labels: _F64, threads: int = 0, precision: str = "double"
) -> tuple[_F64, float, bool]: ...
def score_block_labels_f64(
    x: _F64, labels: _F64, threads: int = 0, precision: str = "double"
) -> tuple[_F64, float, bool]: ...
def score_block_targets_f32(
    x: npt.NDArray[np.float32], targets: _F64, threads: int = 0, precision: str = "double"
) -> tuple[_F64, float, bool]: ...
def score_block_targets_f64(
    x: _F64, targets: _F64, threads: int = 0, precision: str = "double"
) -> tuple[_F64, float, bool]: ...
def predict_f32(
    x: npt.NDArray[np.float32],
    targets: _F64,
    threads: int = 0,
    precision: str = "double",
    fitted: int | None = None,
    shift: float = 0.0,
) -> tuple[_F64, float, bool]: ...
def predict_f64(
    x: _F64,
    targets: _F64,
    threads: int = 0,
    precision: str = "double",
    fitted: int | None = None,
    shift: float = 0.0,
) -> tuple[_F64, float, bool]: ...
def predict_cached_f32(
    kernel: npt.NDArray[np.float32],
    index: npt.NDArray[np.int64],
    targets: _F64,
    threads: int = 0,
    fitted: int | None = None,
    shift: float = 0.0,
) -> tuple[_F64, float, bool] | None: ...
def predict_cached_f64(
    kernel: _F64,
    index: npt.NDArray[np.int64],
    targets: _F64,
    threads: int = 0,
    fitted: int | None = None,
    shift: float = 0.0,
) -> tuple[_F64, float, bool]: ...
def gram_f32(
    x: npt.NDArray[np.float32], threads: int = 0, whole: bool = True, precision: str = "double"
) -> npt.NDArray[np.floating]: ...
def gram_f64(
    x: _F64, threads: int = 0, whole: bool = True, precision: str = "double"
) -> npt.NDArray[np.floating]: ...
def complexity_f32(
    x: npt.NDArray[np.float32], labels: _F64, threads: int = 0
) -> tuple[_F64, float]: ...
def complexity_f64(x: _F64, labels: _F64, threads: int = 0) -> tuple[_F64, float]: ...
def read_rows(
    path: str, offset: int, width: int, index: npt.NDArray[np.int64], threads: int
) -> npt.NDArray[np.uint8]: ...
