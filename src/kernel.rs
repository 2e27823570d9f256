//! The arc-cosine kernel of a block: normalised rows, one triangle of their Gram, and u -> H(u).

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
        Par::Seq => chunks.map(work).collect::<Result<(), _>>()?,
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

/// Turns the lower triangle of U (cosines) into H in place; the diagonal becomes exactly 1/2.
///
/// `h` is the column-major `k x k` buffer; the strict upper triangle is left untouched.
pub fn arccos_lower_in_place(h: &mut [f64], k: usize, par: Par) {
    let transform = |(j, col): (usize, &mut [f64])| {
        col[j] = 0.5;
        for v in &mut col[j + 1..] {
            *v = arccos_kernel(*v);
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

/// Builds the lower triangle of H for the `k x d` row-major block `x` into `h`, a column-major
/// `k x k` buffer.
pub fn kernel_lower<T: Element>(
    x: &[T],
    k: usize,
    d: usize,
    h: &mut [f64],
    par: Par,
) -> Result<(), CoreError> {
    if h.len() != k * k {
        return Err(CoreError::Shape(format!(
            "H has {} entries, a block of {k} rows needs {}",
            h.len(),
            k * k
        )));
    }
    let xn = normalise_rows(x, k, d, par)?;
    gram_lower(&xn, k, d, MatMut::from_column_major_slice_mut(h, k, k), par);
    drop(xn);
    arccos_lower_in_place(h, k, par);
    Ok(())
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
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..k * d)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
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
            CoreError::BadRow { row: 1, reason: "has zero norm and cannot be normalised" }
        );
        let x = [1.0, f64::NAN];
        assert!(matches!(normalise_rows(&x, 1, 2, Par::Seq), Err(CoreError::BadRow { row: 0, .. })));
        let x = [1.0f32, 2.0, 3.0];
        assert!(matches!(normalise_rows(&x, 2, 2, Par::Seq), Err(CoreError::Shape(_))));
    }

    #[test]
    fn lower_triangle_matches_definition() {
        for (k, d) in [(1, 1), (2, 3), (7, 5), (13, 1), (64, 17), (131, 40)] {
            let x = sample(k, d, k as u64);
            let want = naive_h(&x, k, d);
            for par in [Par::Seq, Par::rayon(2)] {
                let mut h = vec![0.0; k * k];
                kernel_lower(&x, k, d, &mut h, par).unwrap();
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
