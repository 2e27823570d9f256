//! The arc-cosine kernel of a block: normalised rows, one triangle of their Gram, and u -> H(u).

use std::time::Instant;

use faer::linalg::matmul::triangular::{matmul, BlockStructure};
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::error::CoreError;

/// Input element types a block may arrive in.
pub trait Element: Copy + Send + Sync + 'static {
    fn to_f64(self) -> f64;
}

impl Element for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Element for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}

/// Copies the `rows x cols` row-major `x` into a new buffer of unit-norm rows in f64.
///
/// The buffer is row-major, so as a faer matrix it is the column-major `cols x rows` matrix Aᵀ
/// whose columns are the normalised examples.
pub fn normalise_rows<T: Element>(
    x: &[T],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<Vec<f64>, CoreError> {
    if x.len() != rows * cols {
        return Err(CoreError::Shape(format!(
            "{} values cannot form a {rows} x {cols} block",
            x.len()
        )));
    }
    if cols == 0 {
        return Err(CoreError::Shape("rows have no features".into()));
    }
    let mut out = vec![0.0f64; rows * cols];
    let work = |(row, (dst, src)): (usize, (&mut [f64], &[T]))| -> Result<(), CoreError> {
        let mut sum = 0.0f64;
        for (d, s) in dst.iter_mut().zip(src) {
            let v = s.to_f64();
            *d = v;
            sum += v * v;
        }
        if !sum.is_finite() {
            return Err(CoreError::BadRow {
                row,
                reason: "has a non-finite value (or overflows when squared)",
            });
        }
        if sum == 0.0 {
            return Err(CoreError::BadRow {
                row,
                reason: "has zero norm and cannot be normalised",
            });
        }
        // Division rather than a reciprocal multiply: a row that is one value over and over then
        // normalises to exactly ±1/sqrt(d), and parallel rows have cosine exactly ±1.
        let norm = sum.sqrt();
        dst.iter_mut().for_each(|d| *d /= norm);
        Ok(())
    };
    let chunks = out.chunks_mut(cols).zip(x.chunks(cols)).enumerate();
    match par {
        Par::Seq => chunks.into_iter().try_for_each(work)?,
        _ => chunks
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(work)
            .collect::<Result<(), _>>()?,
    }
    Ok(out)
}

/// Writes the lower triangle (diagonal included) of U = X Xᵀ into `h` for unit rows `xn`.
///
/// `xn` is the row-major `k x d` output of [`normalise_rows`]; `h` is a column-major `k x k` buffer.
/// The strict upper triangle of `h` is left untouched.
pub fn gram_lower(xn: &[f64], k: usize, d: usize, h: MatMut<'_, f64>, par: Par) {
    let at = MatRef::from_column_major_slice(xn, d, k);
    matmul(
        h,
        BlockStructure::TriangularLower,
        Accum::Replace,
        at.transpose(),
        BlockStructure::Rectangular,
        at,
        BlockStructure::Rectangular,
        1.0,
        par,
    );
}

const FRAC_1_2PI: f64 = 0.5 * std::f64::consts::FRAC_1_PI;

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

/// `Σ a_i b_i` in a fixed order (eight interleaved partial sums), whoever calls it: the same inputs
/// give the same bits on any thread and at any SIMD width.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the instruction set the function was compiled for.
            return unsafe { dot_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_lanes(a, b)
}

#[inline(always)]
fn dot_lanes(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

/// Applies [`arccos_kernel`] to every entry of `v`: the loop the SIMD dispatch below compiles.
#[inline(always)]
fn kernel_slice(v: &mut [f64]) {
    for u in v {
        *u = arccos_kernel(*u);
    }
}

/// Widens the f32 cosines `src` and writes their kernel values into `dst`.
#[inline(always)]
fn kernel_slice_from_f32(src: &[f32], dst: &mut [f64]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = arccos_kernel(f64::from(s));
    }
}

/// The widest instruction set this CPU offers for the kernel loops, probed once per call site.
///
/// The loops contain no fused multiply-add (Rust never contracts `a * b + c`), so every width
/// computes the same bits: the choice changes speed only, never a score.
macro_rules! simd_dispatch {
    ($generic:ident, $avx512:ident, $avx2:ident, ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        unsafe fn $avx512($($arg: $ty),*) $(-> $ret)? {
            $generic($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn $avx2($($arg: $ty),*) $(-> $ret)? {
            $generic($($arg),*)
        }
    };
}

simd_dispatch!(kernel_slice, kernel_slice_avx512, kernel_slice_avx2, (v: &mut [f64]));
simd_dispatch!(dot_lanes, dot_avx512, dot_avx2, (a: &[f64], b: &[f64]) -> f64);
simd_dispatch!(
    kernel_slice_from_f32,
    kernel_slice_from_f32_avx512,
    kernel_slice_from_f32_avx2,
    (src: &[f32], dst: &mut [f64])
);

/// [`arccos_kernel`] over a slice in place, with AVX-512 or AVX2 when the CPU has them.
pub fn kernel_in_place(v: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the instruction set the function was compiled for.
            return unsafe { kernel_slice_avx512(v) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { kernel_slice_avx2(v) };
        }
    }
    kernel_slice(v)
}

/// [`arccos_kernel`] of the widened f32 cosines `src` into `dst`, vectorised like [`kernel_in_place`].
pub fn kernel_from_f32(src: &[f32], dst: &mut [f64]) {
    assert_eq!(src.len(), dst.len(), "kernel_from_f32: lengths differ");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the instruction set the function was compiled for.
            return unsafe { kernel_slice_from_f32_avx512(src, dst) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { kernel_slice_from_f32_avx2(src, dst) };
        }
    }
    kernel_slice_from_f32(src, dst)
}

/// Turns the lower triangle of U (cosines) into H in place; the diagonal becomes exactly 1/2.
///
/// `h` is the column-major `k x k` buffer; the strict upper triangle is left untouched.
pub fn arccos_lower_in_place(h: &mut [f64], k: usize, xn: &[f64], d: usize, par: Par) {
    let transform = |(j, col): (usize, &mut [f64])| {
        col[j] = 0.5;
        let near: Vec<(usize, f64)> = (j + 1..k)
            .filter(|&i| col[i].abs() > NEAR_PARALLEL)
            .map(|i| (i, col[i]))
            .collect();
        kernel_in_place(&mut col[j + 1..]);
        let row_j = &xn[j * d..(j + 1) * d];
        for (i, u) in near {
            col[i] = kernel_near_parallel(&xn[i * d..(i + 1) * d], row_j, u);
        }
    };
    match par {
        Par::Seq => h.chunks_mut(k).enumerate().for_each(transform),
        _ => h
            .par_chunks_mut(k)
            .enumerate()
            .with_min_len(16)
            .for_each(transform),
    }
}

/// How the inner products of a block are computed; the factorisation is always in f64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Normalised rows and their inner products in f64.
    #[default]
    Double,
    /// Rows normalised in f64, rounded to f32, inner products in f32 (half the Gram's time),
    /// widened to f64 before the arc-cosine transform.
    Mixed,
}

/// Pairs whose |cosine| exceeds this get their kernel value from the angle itself (see
/// [`kernel_near_parallel`]) rather than from the cosine. The kernel's slope grows like
/// 1/sqrt(1 − |u|) as |u| → 1 (arccos' infinite slope), so the rounding of a dot product near ±1
/// (1e-16 in f64, 1e-7 in f32) would become an error of up to 1e-8 (f64) in H, enough to swamp
/// the near-null direction that near-duplicate rows give H. Such pairs are few in most data
/// and cost one O(d) pass each.
pub const NEAR_PARALLEL: f64 = 0.995;

/// H for unit rows `a`, `b` whose cosine `u` is close to ±1, accurate to rounding in the angle.
///
/// The chord `s = ‖a − sign(u) b‖` is computed directly, so it keeps full relative precision
/// however small it is; the angle between `a` and `sign(u) b` is `φ = 2 asin(s/2)` with cosine
/// `1 − s²/2`. Then `H = cos φ (π − φ) / (2π)` for u > 0 and `−cos φ · φ / (2π)` for u < 0.
/// Exact duplicates give exactly 1/2 (and exact opposites exactly 0), so H is exactly singular
/// and the ridge fallback sees it. The sum runs in a fixed order: the same bits on every machine.
pub fn kernel_near_parallel(a: &[f64], b: &[f64], u: f64) -> f64 {
    let sign = if u < 0.0 { -1.0 } else { 1.0 };
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
    let s2 = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    let phi = 2.0 * asin((0.5 * s2.sqrt()).min(1.0));
    let cos_phi = 1.0 - 0.5 * s2;
    if sign > 0.0 {
        cos_phi * (std::f64::consts::PI - phi) * FRAC_1_2PI
    } else {
        -cos_phi * phi * FRAC_1_2PI
    }
}

/// Columns of the f32 Gram computed at a time in [`Precision::Mixed`]: the only scratch beyond H
/// is one `k x MIXED_PANEL` f32 panel.
pub const MIXED_PANEL: usize = 256;

/// Seconds spent in each step of [`kernel_lower`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KernelTimes {
    pub normalise: f64,
    pub gram: f64,
    pub transform: f64,
}

/// The lower triangle of H from f32 inner products, one column panel at a time.
///
/// Each panel is the rectangular product of rows `j0..k` with rows `j0..j0+w` (the few entries
/// above the diagonal of its top square are computed and ignored), then widened and transformed
/// straight into H: no `k x k` f32 matrix ever exists. Pairs with |cosine| above
/// [`NEAR_PARALLEL`] are recomputed in f64 from the normalised rows, by [`kernel_near_parallel`].
fn kernel_lower_mixed(
    xn: &[f64],
    k: usize,
    d: usize,
    h: &mut [f64],
    par: Par,
    times: &mut KernelTimes,
) {
    let x32: Vec<f32> = xn.iter().map(|&v| v as f32).collect();
    let at = MatRef::from_column_major_slice(&x32, d, k);
    let width = MIXED_PANEL.min(k);
    let mut panel = vec![0.0f32; k * width];
    for j0 in (0..k).step_by(width) {
        let w = width.min(k - j0);
        let m = k - j0;
        let start = Instant::now();
        faer::linalg::matmul::matmul(
            MatMut::from_column_major_slice_mut(&mut panel[..m * w], m, w),
            Accum::Replace,
            at.subcols(j0, m).transpose(),
            at.subcols(j0, w),
            1.0f32,
            par,
        );
        let mid = Instant::now();
        let cols = h[j0 * k..(j0 + w) * k]
            .chunks_mut(k)
            .zip(panel[..m * w].chunks(m));
        let transform = |(c, (col, src)): (usize, (&mut [f64], &[f32]))| {
            let j = j0 + c;
            col[j] = 0.5;
            kernel_from_f32(&src[c + 1..], &mut col[j + 1..]);
            let row_j = &xn[j * d..(j + 1) * d];
            for (i, &u) in (j + 1..k).zip(&src[c + 1..]) {
                if f64::from(u).abs() > NEAR_PARALLEL {
                    col[i] = kernel_near_parallel(&xn[i * d..(i + 1) * d], row_j, f64::from(u));
                }
            }
        };
        match par {
            Par::Seq => cols.enumerate().for_each(transform),
            _ => cols
                .enumerate()
                .collect::<Vec<_>>()
                .into_par_iter()
                .with_min_len(8)
                .for_each(transform),
        }
        times.gram += (mid - start).as_secs_f64();
        times.transform += mid.elapsed().as_secs_f64();
    }
}

/// Builds the lower triangle of H for the `k x d` row-major block `x` into `h`, a column-major
/// `k x k` buffer, and returns the seconds each step took.
pub fn kernel_lower<T: Element>(
    x: &[T],
    k: usize,
    d: usize,
    h: &mut [f64],
    precision: Precision,
    par: Par,
) -> Result<KernelTimes, CoreError> {
    if h.len() != k * k {
        return Err(CoreError::Shape(format!(
            "H has {} entries, a block of {k} rows needs {}",
            h.len(),
            k * k
        )));
    }
    let mut times = KernelTimes::default();
    let start = Instant::now();
    let xn = normalise_rows(x, k, d, par)?;
    times.normalise = start.elapsed().as_secs_f64();
    match precision {
        Precision::Double => {
            let start = Instant::now();
            gram_lower(&xn, k, d, MatMut::from_column_major_slice_mut(h, k, k), par);
            let mid = Instant::now();
            arccos_lower_in_place(h, k, &xn, d, par);
            times.gram = (mid - start).as_secs_f64();
            times.transform = mid.elapsed().as_secs_f64();
        }
        Precision::Mixed => kernel_lower_mixed(&xn, k, d, h, par, &mut times),
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_h(x: &[f64], k: usize, d: usize) -> Vec<f64> {
        let rows: Vec<Vec<f64>> = x
            .chunks(d)
            .map(|r| {
                let n = r.iter().map(|v| v * v).sum::<f64>().sqrt();
                r.iter().map(|v| v / n).collect()
            })
            .collect();
        let mut h = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                let u: f64 = rows[i].iter().zip(&rows[j]).map(|(a, b)| a * b).sum();
                let u = u.clamp(-1.0, 1.0);
                h[i * k + j] = if i == j {
                    0.5
                } else {
                    u * (std::f64::consts::PI - u.acos()) / (2.0 * std::f64::consts::PI)
                };
            }
        }
        h
    }

    fn sample(k: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..k * d)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.3
            })
            .collect()
    }

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
        let v32: Vec<f32> = v.iter().map(|&u| u as f32).collect();
        let mut got = vec![0.0; v32.len()];
        kernel_from_f32(&v32, &mut got);
        for (g, &u) in got.iter().zip(&v32) {
            assert_eq!(g.to_bits(), arccos_kernel(f64::from(u)).to_bits());
        }
    }

    #[test]
    fn mixed_kernel_is_close_to_double() {
        for (k, d) in [(1, 3), (5, 2), (257, 31), (600, 9)] {
            let x = sample(k, d, 7);
            let mut double = vec![0.0; k * k];
            let mut mixed = vec![0.0; k * k];
            kernel_lower(&x, k, d, &mut double, Precision::Double, Par::Seq).unwrap();
            kernel_lower(&x, k, d, &mut mixed, Precision::Mixed, Par::rayon(2)).unwrap();
            for j in 0..k {
                assert_eq!(mixed[j * k + j], 0.5);
                for i in j + 1..k {
                    let err = (mixed[j * k + i] - double[j * k + i]).abs();
                    assert!(err < 1e-6, "k={k} d={d} ({i},{j}) err {err:e}");
                }
            }
        }
    }

    #[test]
    fn dot_is_the_same_at_every_width() {
        for n in [0, 1, 7, 8, 9, 64, 1001] {
            let a = sample(1, n, 1);
            let b = sample(1, n, 2);
            assert_eq!(dot(&a, &b).to_bits(), dot_lanes(&a, &b).to_bits(), "n={n}");
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-12);
        }
    }

    #[test]
    fn mixed_kernel_refines_near_parallel_rows_in_f64() {
        let (k, d) = (40, 300);
        let mut x = sample(k, d, 5);
        for i in (1..k).step_by(2) {
            for c in 0..d {
                x[i * d + c] = x[(i - 1) * d + c] * (1.0 + 1e-4 * ((c % 7) as f64 - 3.0));
            }
        }
        let mut double = vec![0.0; k * k];
        let mut mixed = vec![0.0; k * k];
        kernel_lower(&x, k, d, &mut double, Precision::Double, Par::Seq).unwrap();
        kernel_lower(&x, k, d, &mut mixed, Precision::Mixed, Par::Seq).unwrap();
        for i in (1..k).step_by(2) {
            let j = i - 1;
            assert!(
                double[j * k + i] > 0.49,
                "rows {i} and {j} should be near-parallel"
            );
            let err = (mixed[j * k + i] - double[j * k + i]).abs();
            assert!(err < 1e-11, "({i},{j}) err {err:e}");
        }
    }

    #[test]
    fn near_parallel_pairs_keep_their_angle() {
        use std::f64::consts::PI;
        for theta in [0.0f64, 1e-14, 1e-10, 1e-6, 1e-3, 0.09] {
            let (s, c) = theta.sin_cos();
            // a and b in 3-D, rotated so that neither is an axis: the dot product rounds.
            let a = [0.6, 0.8, 0.0];
            let b = [0.6 * c - 0.8 * s, 0.8 * c + 0.6 * s, 0.0];
            let want = c * (PI - theta) / (2.0 * PI);
            let got = kernel_near_parallel(&a, &b, c);
            assert!(
                (got - want).abs() <= 4e-16,
                "theta={theta:e}: {got} vs {want}"
            );
            // Opposite rows: angle π − θ, H = cos(π − θ) θ / (2π) = −cos θ · θ / (2π).
            let nb: Vec<f64> = b.iter().map(|v| -v).collect();
            let want = -c * theta / (2.0 * PI);
            let got = kernel_near_parallel(&a, &nb, -c);
            assert!(
                (got - want).abs() <= 4e-16,
                "theta={theta:e}: {got} vs {want}"
            );
        }
        let row = [0.1, -0.7, 0.3, 0.2, 0.5, -0.1, 0.3, 0.1, 0.05];
        assert_eq!(kernel_near_parallel(&row, &row, 1.0), 0.5);
        let neg: Vec<f64> = row.iter().map(|v| -v).collect();
        assert_eq!(kernel_near_parallel(&row, &neg, -1.0), 0.0);
    }

    #[test]
    fn duplicate_rows_give_exactly_equal_columns() {
        // Rows whose dot product with themselves does not round to exactly 1.
        let (k, d) = (6, 7);
        let mut x = sample(k, d, 11);
        let copy: Vec<f64> = x[..d].to_vec();
        x[3 * d..4 * d].copy_from_slice(&copy);
        for precision in [Precision::Double, Precision::Mixed] {
            let mut h = vec![0.0; k * k];
            kernel_lower(&x, k, d, &mut h, precision, Par::Seq).unwrap();
            // The lower triangle is column-major: entry (r, c), r >= c, sits at c * k + r.
            let at = |r: usize, c: usize| h[r.min(c) * k + r.max(c)];
            assert_eq!(at(3, 0), 0.5, "{precision:?}: H[3, 0] of a duplicate pair");
            for i in [1, 2, 4, 5] {
                assert_eq!(at(i, 0), at(i, 3), "{precision:?}: row {i}");
            }
        }
    }

    #[test]
    fn kernel_at_the_ends() {
        assert_eq!(arccos_kernel(1.0), 0.5);
        assert_eq!(arccos_kernel(1.0 + 1e-12), 0.5);
        assert_eq!(arccos_kernel(0.0), 0.0);
        assert_eq!(arccos_kernel(-1.0), 0.0);
    }

    #[test]
    fn normalise_rejects_zero_and_nan_rows() {
        let x = [1.0, 2.0, 0.0, 0.0];
        assert_eq!(
            normalise_rows(&x, 2, 2, Par::Seq).unwrap_err(),
            CoreError::BadRow {
                row: 1,
                reason: "has zero norm and cannot be normalised"
            }
        );
        let x = [1.0, f64::NAN];
        assert!(matches!(
            normalise_rows(&x, 1, 2, Par::Seq),
            Err(CoreError::BadRow { row: 0, .. })
        ));
        let x = [1.0f32, 2.0, 3.0];
        assert!(matches!(
            normalise_rows(&x, 2, 2, Par::Seq),
            Err(CoreError::Shape(_))
        ));
    }

    #[test]
    fn lower_triangle_matches_definition() {
        for (k, d) in [(1, 1), (2, 3), (7, 5), (13, 1), (64, 17), (131, 40)] {
            let x = sample(k, d, k as u64);
            let want = naive_h(&x, k, d);
            for par in [Par::Seq, Par::rayon(2)] {
                let mut h = vec![0.0; k * k];
                kernel_lower(&x, k, d, &mut h, Precision::Double, par).unwrap();
                for j in 0..k {
                    for i in j..k {
                        let err = (h[j * k + i] - want[i * k + j]).abs();
                        assert!(err < 1e-14, "k={k} d={d} ({i},{j}) err {err:e}");
                    }
                    assert_eq!(h[j * k + j], 0.5);
                }
            }
        }
    }

    #[test]
    fn f32_input_is_widened_before_use() {
        let x64 = sample(9, 4, 3);
        let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
        let widened: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(
            normalise_rows(&x32, 9, 4, Par::Seq).unwrap(),
            normalise_rows(&widened, 9, 4, Par::Seq).unwrap()
        );
    }
}
