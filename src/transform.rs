//! The column transform u -> H(u) both precisions share, near-parallel pairs patched from the chord.

use faer::{MatMut, Par};
use rayon::prelude::*;

use crate::arccos::{kernel_from_f32, kernel_in_place};
use crate::element::UnitRows;
use crate::near::{kernel_near_parallel, NEAR_PARALLEL};
use crate::views::cols_mut;

/// Where the cosines below the diagonal of a column of H come from.
#[derive(Clone, Copy)]
pub enum Cosines<'a> {
    /// Already in the column, in f64.
    InPlace,
    /// An f32 column of a panel, one value per entry below the diagonal.
    Widen(&'a [f32]),
}

/// Writes column `j` of H's lower triangle into `col` (the whole column, length k) from its
/// cosines: the diagonal becomes exactly 1/2, entries below it the kernel of their cosine, except
/// pairs with |cosine| above [`NEAR_PARALLEL`], whose value comes from the rows' chord in f64.
pub fn kernel_column(col: &mut [f64], j: usize, cosines: Cosines<'_>, rows: &UnitRows) {
    col[j] = 0.5;
    let below = &mut col[j + 1..];
    let near: Vec<(usize, f64)> = match cosines {
        Cosines::InPlace => near_pairs(below.iter().copied()),
        Cosines::Widen(src) => near_pairs(src.iter().map(|&u| f64::from(u))),
    };
    match cosines {
        Cosines::InPlace => kernel_in_place(below),
        Cosines::Widen(src) => kernel_from_f32(src, below),
    }
    let row_j = rows.row(j);
    for (i, u) in near {
        below[i] = kernel_near_parallel(rows.row(j + 1 + i), row_j, u);
    }
}

fn near_pairs(cosines: impl Iterator<Item = f64>) -> Vec<(usize, f64)> {
    cosines
        .enumerate()
        .filter(|(_, u)| u.abs() > NEAR_PARALLEL)
        .collect()
}

/// Turns the lower triangle of U (cosines, column-major `k x k`) into H in place.
///
/// The strict upper triangle is left untouched.
pub fn transform_lower(h: MatMut<'_, f64>, rows: &UnitRows, par: Par) {
    let transform = |(j, col): (usize, &mut [f64])| kernel_column(col, j, Cosines::InPlace, rows);
    match par {
        Par::Seq => cols_mut(h).enumerate().for_each(transform),
        _ => h
            .par_col_chunks_mut(1)
            .enumerate()
            .with_min_len(16)
            .for_each(|(j, c)| transform((j, crate::views::col_mut(c, 0)))),
    }
}
