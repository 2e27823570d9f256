//! Errors of the numerical core, free of any Python type.

use std::fmt;

/// Why a block could not be scored.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreError {
    /// The input shapes do not fit together (a bug in the caller, reported rather than panicked).
    Shape(String),
    /// A `k x k` kernel buffer of `bytes` bytes could not be allocated (free memory, or an
    /// address-space limit such as `ulimit -v`, is smaller).
    OutOfMemory { k: usize, bytes: f64 },
    /// A row has zero norm or a non-finite entry, so it cannot be normalised.
    BadRow { row: usize, reason: &'static str },
    /// H stayed numerically singular even with the largest ridge we allow.
    NotPositiveDefinite { max_ridge: f64 },
    /// The result held a non-finite value although every check before passed.
    NonFinite(&'static str),
    /// H could not be factorised in float32 (a pivot below what it resolves, or a non-finite
    /// result): the block is for float64 to score.
    Unresolved,
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Shape(msg) => write!(f, "shape mismatch: {msg}"),
            CoreError::OutOfMemory { k, bytes } => write!(
                f,
                "cannot allocate the {k} x {k} kernel matrix of a block ({:.2} GiB): this \
                 process has less memory than that (free RAM, or an address-space limit such as \
                 ulimit -v); pass a smaller max_block (memory grows with its square)",
                bytes / (1u64 << 30) as f64
            ),
            CoreError::BadRow { row, reason } => write!(f, "row {row} of the block {reason}"),
            CoreError::NotPositiveDefinite { max_ridge } => write!(
                f,
                "the kernel matrix is singular even with a ridge of {max_ridge:.1e} x mean(diag H); \
                 the block holds (near-)duplicate rows: deduplicate X first"
            ),
            CoreError::NonFinite(what) => write!(f, "non-finite value in {what}"),
            CoreError::Unresolved => write!(
                f,
                "the kernel matrix cannot be factorised in float32 (near-duplicate rows or a \
                 pivot below what float32 resolves): score the block in float64"
            ),
        }
    }
}

impl std::error::Error for CoreError {}
