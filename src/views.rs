//! Plain slices of the columns of faer's column-major views, for the loops that want slices.
//!
//! Every matrix of the core is a view of a column-major buffer (unit row stride), so a column is
//! always contiguous; a view that is not is a bug in the core, reported by the panic below.

use faer::{MatMut, MatRef};

/// Column `j` of `m` as a slice.
#[inline]
pub fn col<T>(m: MatRef<'_, T>, j: usize) -> &[T] {
    m.col(j)
        .try_as_col_major()
        .expect("the core's matrices are column-major")
        .as_slice()
}

/// Column `j` of `m` as a mutable slice.
#[inline]
pub fn col_mut<T>(m: MatMut<'_, T>, j: usize) -> &mut [T] {
    m.col_mut(j)
        .try_as_col_major_mut()
        .expect("the core's matrices are column-major")
        .as_slice_mut()
}

/// The columns of `m` as mutable slices, in order.
pub fn cols_mut<T>(m: MatMut<'_, T>) -> impl Iterator<Item = &mut [T]> {
    m.col_iter_mut().map(|c| {
        c.try_as_col_major_mut()
            .expect("the core's matrices are column-major")
            .as_slice_mut()
    })
}
