//! The two float types a block's H may be stored and factorised in, f64 and f32: what each
//! resolves, and the loops each needs.

use std::borrow::Cow;

use faer::Par;
use rayon::prelude::*;

use crate::element::Element;
use crate::simd::{dispatch, dot, Simd};

/// A float type holding H and its Cholesky factor. Whatever the type, every sum the core reads
/// back (dot products, squared norms) is accumulated in f64, in a fixed order.
pub trait Real: Element + faer::traits::RealField + Default {
    /// Machine epsilon of the type, as f64.
    const EPS: f64;
    /// A pivot L_ii² below this (or below `k · ε`) times mean(diag H) counts as one the type
    /// cannot resolve: H is singular for all the type can tell.
    const SINGULAR_PIVOT: f64;
    /// Whether an H singular in this type is retried with a ridge in it ([`crate::cholesky`]'s
    /// ladder). When not, the block is for the caller to score in f64.
    const RIDGES: bool;
    /// `v` rounded to the type.
    fn narrow(v: f64) -> Self;
    /// The f64 values `v` in the type: borrowed when it is f64, rounded copies otherwise (in
    /// parallel with `par`; each value on its own, so no bit depends on it).
    fn narrow_slice(v: &[f64], par: Par) -> Cow<'_, [Self]>;
    /// `Σ a_i b_i` in f64, in a fixed order.
    fn dot_f64(a: &[Self], b: &[f64]) -> f64;
    /// `Σ a_i²` in f64, in a fixed order.
    fn sum_squares(a: &[Self]) -> f64;
    /// `‖a − sign · b‖²` (sign ±1) as f64, in a fixed order: the squared chord between two unit
    /// rows, each difference taken in the type (exact when the rows are close).
    fn chord_squared(a: &[Self], b: &[Self], sign: f64) -> f64;
}

impl Real for f64 {
    const EPS: f64 = f64::EPSILON;
    /// Two rows at an angle θ give a pivot near θ/π. Below θ ≈ 1e-9 rad float64 cannot resolve
    /// the pair: rounding H's entries to the nearest float64, and nothing else, already moves the
    /// pair's scores by orders of magnitude (measured against 60-digit arithmetic on the same
    /// inputs). Such rows are duplicates for all float64 can tell, and are scored as such, with a
    /// ridge. Real data sit far above: the smallest pivot of scikit-learn's digits is 0.02.
    const SINGULAR_PIVOT: f64 = 5e-10;
    const RIDGES: bool = true;
    #[inline(always)]
    fn narrow(v: f64) -> Self {
        v
    }
    #[inline]
    fn narrow_slice(v: &[f64], _: Par) -> Cow<'_, [f64]> {
        Cow::Borrowed(v)
    }
    #[inline]
    fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
        dot(a, b)
    }
    #[inline]
    fn sum_squares(a: &[f64]) -> f64 {
        dot(a, a)
    }
    #[inline]
    fn chord_squared(a: &[f64], b: &[f64], sign: f64) -> f64 {
        dispatch(ChordF64(a, b, sign))
    }
}

impl Real for f32 {
    const EPS: f64 = f32::EPSILON as f64;
    /// float32 keeps 24 bits: H's entries carry errors near 1e-6 (a float32 Gram's rounding,
    /// about √d ulps of each cosine), and the factor of a block of thousands of rows errors near
    /// 1e-5 of mean(diag H). A pivot within a hundred times that of zero leaves diag(H⁻¹) with
    /// no reliable digit, so such a block is handed to float64 instead. Two rows at an angle θ
    /// give a pivot near θ/π: this floor sends pairs closer than about 2e-3 rad to float64.
    const SINGULAR_PIVOT: f64 = 1e-3;
    /// A ridge small enough to leave the scores alone (float64's ladder stops at 1e-6 of
    /// mean(diag H)) is below what float32 resolves next to 1/2, and the pivots it gives are
    /// below [`Self::SINGULAR_PIVOT`]: a block with duplicate rows goes to float64 whole.
    const RIDGES: bool = false;
    #[inline(always)]
    fn narrow(v: f64) -> Self {
        v as f32
    }
    fn narrow_slice(v: &[f64], par: Par) -> Cow<'_, [f32]> {
        Cow::Owned(match par {
            Par::Seq => v.iter().map(|&x| x as f32).collect(),
            _ => v
                .par_iter()
                .with_min_len(1 << 16)
                .map(|&x| x as f32)
                .collect(),
        })
    }
    #[inline]
    fn dot_f64(a: &[f32], b: &[f64]) -> f64 {
        dispatch(DotWidened(a, b))
    }
    #[inline]
    fn sum_squares(a: &[f32]) -> f64 {
        dispatch(SquaresWidened(a))
    }
    /// In f32, sixteen partial sums: rounding each row to f32 moves the chord by at most 6e-8,
    /// which moves H by 1e-8, below f32's own rounding of H near 1/2 (3e-8).
    #[inline]
    fn chord_squared(a: &[f32], b: &[f32], sign: f64) -> f64 {
        dispatch(ChordF32(a, b, sign as f32))
    }
}

struct ChordF64<'a>(&'a [f64], &'a [f64], f64);

impl Simd for ChordF64<'_> {
    type Output = f64;
    #[inline(always)]
    fn run(self) -> f64 {
        let ChordF64(a, b, sign) = self;
        let mut lanes = [0.0f64; 8];
        let mut ca = a.chunks_exact(8);
        let mut cb = b.chunks_exact(8);
        for (x, y) in (&mut ca).zip(&mut cb) {
            for l in 0..8 {
                let t = x[l] - sign * y[l];
                lanes[l] += t * t;
            }
        }
        for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
            let t = x - sign * y;
            lanes[l] += t * t;
        }
        ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
            + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
    }
}

struct ChordF32<'a>(&'a [f32], &'a [f32], f32);

impl Simd for ChordF32<'_> {
    type Output = f64;
    #[inline(always)]
    fn run(self) -> f64 {
        let ChordF32(a, b, sign) = self;
        let mut lanes = [0.0f32; 16];
        let mut ca = a.chunks_exact(16);
        let mut cb = b.chunks_exact(16);
        for (x, y) in (&mut ca).zip(&mut cb) {
            for l in 0..16 {
                let t = x[l] - sign * y[l];
                lanes[l] += t * t;
            }
        }
        for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
            let t = x - sign * y;
            lanes[l] += t * t;
        }
        let mut sum = 0.0f64;
        for pair in lanes.chunks_exact(2) {
            sum += f64::from(pair[0]) + f64::from(pair[1]);
        }
        sum
    }
}

struct DotWidened<'a>(&'a [f32], &'a [f64]);

impl Simd for DotWidened<'_> {
    type Output = f64;
    #[inline(always)]
    fn run(self) -> f64 {
        let mut acc = [0.0f64; 8];
        let mut ca = self.0.chunks_exact(8);
        let mut cb = self.1.chunks_exact(8);
        for (x, y) in (&mut ca).zip(&mut cb) {
            for lane in 0..8 {
                acc[lane] += f64::from(x[lane]) * y[lane];
            }
        }
        let mut sum =
            ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
            sum += f64::from(*x) * y;
        }
        sum
    }
}

struct SquaresWidened<'a>(&'a [f32]);

impl Simd for SquaresWidened<'_> {
    type Output = f64;
    #[inline(always)]
    fn run(self) -> f64 {
        let mut acc = [0.0f64; 8];
        let mut ca = self.0.chunks_exact(8);
        for x in &mut ca {
            for lane in 0..8 {
                let v = f64::from(x[lane]);
                acc[lane] += v * v;
            }
        }
        let mut sum =
            ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for x in ca.remainder() {
            let v = f64::from(*x);
            sum += v * v;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widened_sums_match_f64_sums_of_the_widened_values() {
        for n in [0, 1, 7, 8, 9, 100, 1001] {
            let a: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
                .collect();
            let b: Vec<f64> = (0..n).map(|i| ((i * 13 % 17) as f64) / 8.0 - 1.0).collect();
            let wide: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
            assert_eq!(f32::dot_f64(&a, &b).to_bits(), dot(&wide, &b).to_bits());
            assert_eq!(f32::sum_squares(&a).to_bits(), dot(&wide, &wide).to_bits());
        }
    }

    #[test]
    fn chords_match_their_definition_in_either_type() {
        for n in [0, 1, 7, 15, 16, 17, 100, 3072] {
            let a: Vec<f64> = (0..n)
                .map(|i| ((i * 37 % 101) as f64) / 50.0 - 1.0)
                .collect();
            let b: Vec<f64> = a
                .iter()
                .enumerate()
                .map(|(i, v)| v + 1e-4 * ((i * 13 % 17) as f64 - 8.0))
                .collect();
            for sign in [1.0, -1.0] {
                let nb: Vec<f64> = b.iter().map(|v| sign * v).collect();
                let want: f64 = a.iter().zip(&nb).map(|(x, y)| (x - sign * y).powi(2)).sum();
                let got = f64::chord_squared(&a, &nb, sign);
                assert!((got - want).abs() <= 1e-14 * want.max(1e-300), "n={n}");
                let (a32, b32): (Vec<f32>, Vec<f32>) = (
                    a.iter().map(|&v| v as f32).collect(),
                    nb.iter().map(|&v| v as f32).collect(),
                );
                let got = f32::chord_squared(&a32, &b32, sign);
                // Each row rounded to f32 moves each difference by up to 2⁻²⁴ of the values.
                let bound = 2.0 * want.sqrt() * 1.2e-7 * (n as f64).sqrt() * 2.0 + 1e-12;
                assert!(
                    (got - want).abs() <= bound.max(1e-5 * want),
                    "n={n}: {got} vs {want}"
                );
            }
        }
    }
}
