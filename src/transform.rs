//! The column transform u -> H(u) every path shares, near-parallel pairs patched from the chord.

use faer::{MatMut, Par};
use rayon::prelude::*;

use crate::arccos::kernel_in_place;
use crate::element::UnitRows;
use crate::near::{kernel_near_parallel, NEAR_PARALLEL};
use crate::views::{col_mut, cols_mut};

/// Turns the cosines of column `j` of H, from its diagonal down (`col[0]` is row j, `col[i]` row
/// j + i), into kernel values in place: the diagonal becomes exactly 1/2, the entries below it the
/// kernel of their cosine, except pairs with |cosine| above [`NEAR_PARALLEL`], whose value comes
/// from the rows' chord.
pub fn kernel_column(col: &mut [f64], j: usize, rows: &UnitRows) {
    col[0] = 0.5;
    let below = &mut col[1..];
    let near: Vec<(usize, f64)> = below
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, u)| u.abs() > NEAR_PARALLEL)
        .collect();
    kernel_in_place(below);
    let row_j = rows.row(j);
    for (i, u) in near {
        below[i] = kernel_near_parallel(rows.row(j + 1 + i), row_j, u);
    }
}

/// Turns the lower triangle of U (cosines, column-major `k x k`) into H in place.
///
/// The strict upper triangle is left untouched.
pub fn transform_lower(h: MatMut<'_, f64>, rows: &UnitRows, par: Par) {
    let transform = |(j, col): (usize, &mut [f64])| kernel_column(&mut col[j..], j, rows);
    match par {
        Par::Seq => cols_mut(h).enumerate().for_each(transform),
        _ => h
            .par_col_chunks_mut(1)
            .enumerate()
            .with_min_len(16)
            .for_each(|(j, c)| transform((j, col_mut(c, 0)))),
    }
}
