//! The column transform u -> H(u) every precision shares, near-parallel pairs patched from the
//! chord.

use faer::{MatMut, Par};
use rayon::prelude::*;

use crate::arccos::kernel_in_place;
use crate::near::{kernel_near_parallel, NEAR_PARALLEL};
use crate::real::Real;
use crate::simd::{dispatch, Simd};
use crate::views::{col_mut, cols_mut};

/// Turns the cosines of column `j` of H, from its diagonal down (`col[0]` is row j, `col[i]` row
/// j + i), into kernel values in place: the diagonal becomes exactly 1/2, the entries below it the
/// kernel of their cosine, except pairs with |cosine| above [`NEAR_PARALLEL`], whose value comes
/// from the chord of the rows (`unit`, the unit rows in `E`, `d` values each), rounded once to
/// `E`.
pub fn kernel_column<E: Real>(col: &mut [E], j: usize, unit: &[E], d: usize) {
    col[0] = E::narrow(0.5);
    let row = |i: usize| &unit[i * d..(i + 1) * d];
    kernel_values(&mut col[1..], |i| row(j + 1 + i), row(j));
}

/// Turns the cosines of one column of a cross kernel, between the predicted rows (`unit`, `d`
/// values each, one per entry of `column`) and one fitted row `fit`, into kernel values in place:
/// the values [`kernel_column`] gives the same pairs, the near-parallel ones from the chord.
pub fn kernel_cross_column<E: Real>(column: &mut [E], fit: &[E], unit: &[E], d: usize) {
    kernel_values(column, |i| &unit[i * d..(i + 1) * d], fit);
}

/// The cosines `values` between the rows `row(i)` and the row `other` turned into kernel values
/// in place, pairs with |cosine| above [`NEAR_PARALLEL`] from their chord.
fn kernel_values<'a, E: Real + 'a>(values: &mut [E], row: impl Fn(usize) -> &'a [E], other: &[E]) {
    // Most columns hold no near-parallel pair: a vectorised count finds them before any list is
    // made (the list, element by element, cost a tenth of a suggestion pass on 50 features).
    let near: Vec<(usize, f64)> = if dispatch(NearCount(values)) == 0 {
        Vec::new()
    } else {
        values
            .iter()
            .map(|u| u.to_f64())
            .enumerate()
            .filter(|(_, u)| u.abs() > NEAR_PARALLEL)
            .collect()
    };
    kernel_in_place(values);
    for (i, u) in near {
        values[i] = E::narrow(kernel_near_parallel(row(i), other, u));
    }
}

/// How many of the cosines are near-parallel (|u| above [`NEAR_PARALLEL`]), counted without a
/// branch so that the loop vectorises.
struct NearCount<'a, E>(&'a [E]);

impl<E: Real> Simd for NearCount<'_, E> {
    type Output = usize;
    #[inline(always)]
    fn run(self) -> usize {
        self.0
            .iter()
            .map(|u| usize::from(u.to_f64().abs() > NEAR_PARALLEL))
            .sum()
    }
}

/// Turns the lower triangle of U (cosines, column-major `k x k`) into H in place, `unit` the
/// block's unit rows in `E`, `d` values each.
///
/// The strict upper triangle is left untouched.
pub fn transform_lower<E: Real>(h: MatMut<'_, E>, unit: &[E], d: usize, par: Par) {
    let transform = |(j, col): (usize, &mut [E])| kernel_column(&mut col[j..], j, unit, d);
    match par {
        Par::Seq => cols_mut(h).enumerate().for_each(transform),
        _ => h
            .par_col_chunks_mut(1)
            .enumerate()
            .with_min_len(16)
            .for_each(|(j, c)| transform((j, col_mut(c, 0)))),
    }
}
