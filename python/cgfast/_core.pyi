# Type stubs of the native extension cgfast._core (checked against the built module by stubtest).
import numpy as np
import numpy.typing as npt

__all__ = [
    "score_block_f32",
    "score_block_f64",
    "profile_block_f32",
    "profile_block_f64",
    "gram_f32",
    "gram_f64",
    "complexity_f32",
    "complexity_f64",
    "SingularKernelError",
    "InternalError",
    "FIRST_RIDGE",
    "MAX_RIDGE",
]

FIRST_RIDGE: float
MAX_RIDGE: float

class SingularKernelError(ValueError): ...
class InternalError(RuntimeError): ...

_Scores = tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    float,
]

def score_block_f32(
    x: npt.NDArray[np.float32], n_pos: int, threads: int = 0, mixed: bool = False
) -> _Scores: ...
def score_block_f64(
    x: npt.NDArray[np.float64], n_pos: int, threads: int = 0, mixed: bool = False
) -> _Scores: ...
def profile_block_f32(
    x: npt.NDArray[np.float32], n_pos: int, threads: int = 0, mixed: bool = False
) -> tuple[npt.NDArray[np.float64], dict[str, float]]: ...
def profile_block_f64(
    x: npt.NDArray[np.float64], n_pos: int, threads: int = 0, mixed: bool = False
) -> tuple[npt.NDArray[np.float64], dict[str, float]]: ...
def gram_f32(x: npt.NDArray[np.float32], threads: int = 0) -> npt.NDArray[np.float64]: ...
def gram_f64(x: npt.NDArray[np.float64], threads: int = 0) -> npt.NDArray[np.float64]: ...
def complexity_f32(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.float64], threads: int = 0
) -> tuple[float, float]: ...
def complexity_f64(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], threads: int = 0
) -> tuple[float, float]: ...
