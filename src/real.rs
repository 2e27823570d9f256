//! The two float types H may be stored and factorised in, f64 and f32, and the loops each needs.

use crate::element::Element;
use crate::simd::{dispatch, dot, Simd};

/// A float type holding H and its Cholesky factor. Whatever the type, every sum the core reads
/// back (dot products, squared norms) is accumulated in f64, in a fixed order.
pub trait Real: Element + faer::traits::RealField + Default {
    /// Machine epsilon of the type, as f64.
    const EPS: f64;
    /// A pivot L_ii² below this times mean(diag H) counts as one the type cannot resolve.
    const SINGULAR_PIVOT: f64;
    /// `v` rounded to the type.
    fn narrow(v: f64) -> Self;
    /// `Σ a_i b_i` in f64, in a fixed order.
    fn dot_f64(a: &[Self], b: &[f64]) -> f64;
    /// `Σ a_i²` in f64, in a fixed order.
    fn sum_squares(a: &[Self]) -> f64;
}

impl Real for f64 {
    const EPS: f64 = f64::EPSILON;
    const SINGULAR_PIVOT: f64 = crate::cholesky::SINGULAR_PIVOT;
    #[inline(always)]
    fn narrow(v: f64) -> Self {
        v
    }
    #[inline]
    fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
        dot(a, b)
    }
    #[inline]
    fn sum_squares(a: &[f64]) -> f64 {
        dot(a, a)
    }
}

impl Real for f32 {
    const EPS: f64 = f32::EPSILON as f64;
    /// float32 keeps 24 bits: H's entries are rounded by 3e-8, and the factor of a block of
    /// thousands of rows carries errors near 1e-5 of mean(diag H). A pivot within a few hundred
    /// times that of zero leaves diag(H⁻¹) with no reliable digit, so such a block is handed to
    /// float64 instead (measured: scores of real image blocks stay within 1e-4 above this floor).
    const SINGULAR_PIVOT: f64 = 1e-3;
    #[inline(always)]
    fn narrow(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn dot_f64(a: &[f32], b: &[f64]) -> f64 {
        dispatch(DotWidened(a, b))
    }
    #[inline]
    fn sum_squares(a: &[f32]) -> f64 {
        dispatch(SquaresWidened(a))
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
}
