//! The arc-cosine kernel of degree one, H(u) = u (π − arccos u) / (2π), scalar and over slices.

use crate::real::Real;
use crate::simd::{dispatch, Simd};

pub(crate) const FRAC_1_2PI: f64 = 0.5 * std::f64::consts::FRAC_1_PI;

/// The arc-cosine kernel of degree one at cosine `u`: `u (π − arccos u) / (2π)`.
///
/// Uses `π − arccos u = π/2 + arcsin u` and a branch-free arcsine, so a loop over it vectorises.
#[inline(always)]
pub fn arccos_kernel(u: f64) -> f64 {
    let u = u.clamp(-1.0, 1.0);
    u * (std::f64::consts::FRAC_PI_2 + asin(u)) * FRAC_1_2PI
}

/// Arcsine on [-1, 1] without branches (fdlibm's rational approximation, one form for both ranges).
///
/// For |u| ≤ 1/2 it evaluates `u + u t R(t)` with `t = u²`; above, `π/2 − 2 asin(s)` with
/// `s = sqrt((1 − |u|)/2)`, again `s + s t R(t)` with `t = s²`. Max error ~1e-16 (tested ≤ 1e-15).
#[inline(always)]
#[allow(clippy::excessive_precision)] // fdlibm's coefficients, digit for digit as published
pub fn asin(u: f64) -> f64 {
    const P0: f64 = 1.666_666_666_666_666_574_15e-01;
    const P1: f64 = -3.255_658_186_224_009_154_05e-01;
    const P2: f64 = 2.012_125_321_348_629_258_81e-01;
    const P3: f64 = -4.005_553_450_067_941_140_27e-02;
    const P4: f64 = 7.915_349_942_898_145_321_76e-04;
    const P5: f64 = 3.479_331_075_960_211_675_70e-05;
    const Q1: f64 = -2.403_394_911_734_414_218_78e+00;
    const Q2: f64 = 2.020_945_760_233_505_694_71e+00;
    const Q3: f64 = -6.882_839_716_054_532_930_30e-01;
    const Q4: f64 = 7.703_815_055_590_193_527_91e-02;
    let a = u.abs();
    let big = a > 0.5;
    let t = if big { 0.5 * (1.0 - a) } else { a * a };
    let s = if big { t.sqrt() } else { a };
    let p = t * (P0 + t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5)))));
    let q = 1.0 + t * (Q1 + t * (Q2 + t * (Q3 + t * Q4)));
    let r = s + s * (p / q);
    let v = if big {
        std::f64::consts::FRAC_PI_2 - 2.0 * r
    } else {
        r
    };
    v.copysign(u)
}

struct InPlace<'a, E>(&'a mut [E]);

impl<E: Real> Simd for InPlace<'_, E> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        for u in self.0 {
            *u = E::narrow(arccos_kernel(u.to_f64()));
        }
    }
}

/// [`arccos_kernel`] over a slice in place, vectorised. An f32 cosine is widened, its kernel
/// evaluated in f64 and rounded once: the transform is a few percent of a block, so float32
/// gains nothing from a shorter arcsine, and the values keep every bit float32 can hold.
pub fn kernel_in_place<E: Real>(v: &mut [E]) {
    dispatch(InPlace(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asin_matches_libm() {
        let mut worst = 0.0f64;
        let n = 2_000_001;
        for i in 0..n {
            let u = -1.0 + 2.0 * i as f64 / (n - 1) as f64;
            worst = worst.max((asin(u) - u.asin()).abs());
        }
        for u in [0.5, -0.5, 0.5 + 1e-16, 1.0 - 1e-16, 1e-300, 0.0, -0.0] {
            worst = worst.max((asin(u) - u.asin()).abs());
        }
        assert!(worst <= 1e-15, "max |asin - libm| = {worst:e}");
    }

    #[test]
    fn vectorised_kernel_equals_scalar_to_the_bit() {
        let n = 100_003;
        let mut v: Vec<f64> = (0..n)
            .map(|i| -1.2 + 2.4 * i as f64 / (n - 1) as f64)
            .collect();
        v.extend([0.5, -0.5, 1.0, -1.0, 0.0, -0.0, 1e-300, 0.5 + 1e-16]);
        let want: Vec<u64> = v.iter().map(|&u| arccos_kernel(u).to_bits()).collect();
        let mut got = v.clone();
        kernel_in_place(&mut got);
        assert!(got.iter().map(|g| g.to_bits()).eq(want.iter().copied()));
        // f32: the kernel of the widened cosine, rounded once.
        let narrow: Vec<f32> = v.iter().map(|&u| u as f32).collect();
        let mut got = narrow.clone();
        kernel_in_place(&mut got);
        for (g, u) in got.iter().zip(&narrow) {
            assert_eq!(g.to_bits(), (arccos_kernel(f64::from(*u)) as f32).to_bits());
        }
    }

    #[test]
    fn kernel_at_the_ends() {
        assert_eq!(arccos_kernel(1.0), 0.5);
        assert_eq!(arccos_kernel(1.0 + 1e-12), 0.5);
        assert_eq!(arccos_kernel(0.0), 0.0);
        assert_eq!(arccos_kernel(-1.0), 0.0);
    }
}
