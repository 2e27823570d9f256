//! The column transform u -> H(u) every path shares, near-parallel pairs patched from the chord.

use faer::{MatMut, Par};
use rayon::prelude::*;

use crate::element::UnitRows;
use crate::near::{kernel_near_parallel, NEAR_PARALLEL};
use crate::real::Real;
use crate::views::{col_mut, cols_mut};

/// The near-parallel entries of one column of H below its diagonal: (offset below the diagonal,
/// kernel value in f64 from the chord).
pub type NearPairs = Vec<(u32, f64)>;

/// Turns the cosines of column `j` of H, from its diagonal down (`col[0]` is row j, `col[i]` row
/// j + i), into kernel values in place: the diagonal becomes exactly 1/2, the entries below it the
/// kernel of their cosine, except pairs with |cosine| above [`NEAR_PARALLEL`], whose value comes
/// from the rows' chord in f64. The kernel is evaluated in f64 and rounded to `E` once. Returns
/// the near-parallel entries with their f64 values.
pub fn kernel_column<E: Real>(col: &mut [E], j: usize, rows: &UnitRows) -> NearPairs {
    col[0] = E::narrow(0.5);
    let below = &mut col[1..];
    let mut near: NearPairs = below
        .iter()
        .map(|u| u.to_f64())
        .enumerate()
        .filter(|(_, u)| u.abs() > NEAR_PARALLEL)
        .map(|(i, u)| (i as u32, u))
        .collect();
    E::kernel_in_place(below);
    let row_j = rows.row(j);
    for (i, v) in near.iter_mut() {
        let i = *i as usize;
        *v = kernel_near_parallel(rows.row(j + 1 + i), row_j, *v);
        below[i] = E::narrow(*v);
    }
    near
}

/// [`kernel_column`] in f64 with the near-parallel entries already known: their cached values
/// replace the kernel of the cosine, and no chord is computed again.
pub fn kernel_column_cached(col: &mut [f64], near: &[(u32, f64)]) {
    col[0] = 0.5;
    let below = &mut col[1..];
    f64::kernel_in_place(below);
    for &(i, v) in near {
        below[i as usize] = v;
    }
}

/// Turns the lower triangle of U (cosines, column-major `k x k`) into H in place; with `keep_near`,
/// returns the near-parallel entries of every column ([`NearPairs`]), else nothing.
///
/// The strict upper triangle is left untouched.
pub fn transform_lower<E: Real>(
    h: MatMut<'_, E>,
    rows: &UnitRows,
    keep_near: bool,
    par: Par,
) -> Vec<NearPairs> {
    let transform = |(j, col): (usize, &mut [E])| {
        let near = kernel_column(&mut col[j..], j, rows);
        if keep_near {
            near
        } else {
            Vec::new()
        }
    };
    let near: Vec<NearPairs> = match par {
        Par::Seq => cols_mut(h).enumerate().map(transform).collect(),
        _ => h
            .par_col_chunks_mut(1)
            .enumerate()
            .with_min_len(16)
            .map(|(j, c)| transform((j, col_mut(c, 0))))
            .collect(),
    };
    if keep_near {
        near
    } else {
        Vec::new()
    }
}
