//! Property tests of the block routine over odd sizes and adversarial values.
//!
//! The contract under test: the block routine never panics; it returns either finite scores whose
//! terms add up, or a `CoreError`, and the error is `BadRow` exactly when a row cannot be
//! normalised (all zeros, or a non-finite value).

use faer::{MatMut, Par};
use ndarray::ArrayView2;
use proptest::prelude::*;

use crate::arccos::{arccos_kernel, asin};
use crate::block;
use crate::cholesky::MAX_RIDGE;
use crate::error::CoreError;
use crate::loo::{block_scores, BlockScores};
use crate::precision::Precision;
use crate::timing::NoTiming;
use crate::views::cols_mut;

fn score_block<T: crate::element::Element>(
    x: &[T],
    k: usize,
    d: usize,
    p: usize,
    threads: usize,
) -> Result<BlockScores, CoreError> {
    score_block_in(x, k, d, p, threads, Precision::Double)
}

fn score_block_in<T: crate::element::Element>(
    x: &[T],
    k: usize,
    d: usize,
    p: usize,
    threads: usize,
    precision: Precision,
) -> Result<BlockScores, CoreError> {
    let x = ArrayView2::from_shape((k, d), x).expect("k * d values");
    block::score_block(x, p, threads, precision, &mut NoTiming)
}

/// Leave-one-out scores of the symmetric column-major `full` (`k x k`) as H.
fn scores_of_matrix(full: &[f64], k: usize, p: usize) -> Result<BlockScores, CoreError> {
    let mut h = vec![0.0; k * k];
    let build = |h: MatMut<'_, f64>, _: &mut NoTiming| {
        for (j, c) in cols_mut(h).enumerate() {
            c.copy_from_slice(&full[j * k..(j + 1) * k]);
        }
        Ok(())
    };
    block_scores(
        MatMut::from_column_major_slice_mut(&mut h, k, k),
        p,
        Par::Seq,
        build,
        &mut NoTiming,
    )
}

/// One entry of a block: ordinary values mixed with huge, tiny, subnormal, zero and non-finite ones.
fn entry() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -3.0..3.0f64,
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => prop_oneof![Just(1e150), Just(-1e150), Just(1e-150), Just(-1e-150)],
        1 => prop_oneof![Just(1e300), Just(-1e300), Just(f64::MAX)],
        1 => prop_oneof![Just(1e-300), Just(5e-324), Just(f64::MIN_POSITIVE)],
        1 => Just(1.0),
        1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
    ]
}

/// A block `k x d` with `p` positives; some rows are exact copies or scaled copies of row 0.
fn block() -> impl Strategy<Value = (Vec<f64>, usize, usize, usize)> {
    (1usize..=13, 1usize..=5)
        .prop_flat_map(|(k, d)| {
            (
                prop::collection::vec(entry(), k * d),
                Just(k),
                Just(d),
                1usize..=k,
                prop::collection::vec(prop_oneof![3 => Just(None), 1 => Just(Some(1.0)), 1 => Just(Some(-1.0)), 1 => Just(Some(1e-3))], k),
            )
        })
        .prop_map(|(mut x, k, d, p, copies)| {
            for (r, copy) in copies.iter().enumerate().skip(1) {
                if let Some(c) = copy {
                    for j in 0..d {
                        x[r * d + j] = c * x[j];
                    }
                }
            }
            (x, k, d, p)
        })
}

/// Whether `normalise_rows` must refuse some row of the block.
fn has_bad_row(x: &[f64], d: usize) -> bool {
    x.chunks(d)
        .any(|row| row.iter().any(|v| !v.is_finite()) || row.iter().all(|&v| v == 0.0))
}

fn check_scores(out: &BlockScores, p: usize, terms_add_up: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(out.score.len(), p);
    prop_assert_eq!(out.a2.len(), p);
    prop_assert_eq!(out.ab.len(), p);
    prop_assert_eq!(out.b2.len(), p);
    prop_assert!(out.ridge == 0.0 || (out.ridge > 0.0 && out.ridge <= MAX_RIDGE * 1.000_001));
    for j in 0..p {
        let (s, a2, ab, b2) = (out.score[j], out.a2[j], out.ab[j], out.b2[j]);
        prop_assert!(s.is_finite() && a2.is_finite() && ab.is_finite() && b2.is_finite());
        // score = α²/D and b2 = D > 0 by construction.
        prop_assert!(
            s >= 0.0 && b2 > 0.0 && a2 >= 0.0,
            "score {s}, a2 {a2}, b2 {b2}"
        );
        // a2 + 2ab + b2 = score in exact arithmetic; in floating point the sum cancels, so the
        // error is a few ulps of its largest term (1e-12 leaves three orders of headroom).
        if terms_add_up {
            let scale = a2.max(2.0 * ab.abs()).max(b2).max(s);
            prop_assert!(
                (a2 + 2.0 * ab + b2 - s).abs() <= 1e-12 * scale,
                "terms do not add up"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn score_block_is_finite_or_an_error((x, k, d, p) in block(), threads in 1usize..=2) {
        match score_block(&x, k, d, p, threads) {
            Ok(out) => {
                prop_assert!(!has_bad_row(&x, d), "a block with a bad row was scored");
                check_scores(&out, p, true)?;
            }
            Err(CoreError::BadRow { row, .. }) => {
                prop_assert!(row < k);
                prop_assert!(has_bad_row(&x[row * d..(row + 1) * d], d), "row {row} is fine");
            }
            Err(CoreError::NotPositiveDefinite { .. }) => prop_assert!(!has_bad_row(&x, d)),
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }

    #[test]
    fn single_precision_is_finite_or_an_error_like_double((x, k, d, p) in block(), threads in 1usize..=2) {
        // Single precision fails exactly where double does (its fallback is the double path),
        // and a block it scores without falling back has finite terms that add up.
        let double = score_block(&x, k, d, p, 1);
        match score_block_in(&x, k, d, p, threads, Precision::Single) {
            Ok(out) => {
                check_scores(&out, p, true)?;
                if out.fallback {
                    prop_assert_eq!(Ok(BlockScores { fallback: false, ..out }), double);
                } else {
                    prop_assert_eq!(out.ridge, 0.0);
                }
            }
            Err(e) => prop_assert_eq!(Err(e), double),
        }
    }

    #[test]
    fn score_block_f32_is_finite_or_an_error((x, k, d, p) in block()) {
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let widened: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
        match score_block(&x32, k, d, p, 1) {
            Ok(out) => {
                check_scores(&out, p, true)?;
                // f32 input is widened first, so it scores exactly like its widening.
                prop_assert_eq!(Ok(out), score_block(&widened, k, d, p, 1));
            }
            Err(e) => prop_assert!(
                matches!(e, CoreError::BadRow { .. } | CoreError::NotPositiveDefinite { .. }),
                "{e:?}"
            ),
        }
    }

    #[test]
    fn block_scores_survive_any_symmetric_matrix(
        (k, p, entries) in (1usize..=9).prop_flat_map(|k| {
            (Just(k), 1usize..=k, prop::collection::vec(entry(), k * k))
        })
    ) {
        // Any symmetric matrix at all: indefinite, singular, badly scaled or non-finite. Such an H
        // is no kernel matrix (those have diagonal 1/2 and entries in [-0.11, 1/2]), so the terms
        // may underflow (H = [1e300] gives α² = 0); only finiteness and signs are checked.
        let full: Vec<f64> = (0..k * k)
            .map(|idx| entries[(idx % k).max(idx / k) * k + (idx % k).min(idx / k)])
            .collect();
        match scores_of_matrix(&full, k, p) {
            Ok(out) => check_scores(&out, p, false)?,
            Err(e) => prop_assert!(matches!(e, CoreError::NotPositiveDefinite { .. }), "{e:?}"),
        }
    }

    #[test]
    fn exact_duplicate_kernels_take_a_ridge(
        (k, p, groups, u) in (2usize..=11).prop_flat_map(|k| (
            Just(k),
            1usize..=k,
            prop::collection::vec(0usize..k - 1, k),
            prop::collection::vec(-1.0..=1.0f64, 3 * k),
        ))
    ) {
        // Rows fall into at most k − 1 groups of exact copies: H_ij = H(u_ab) for rows of groups
        // a ≠ b and 1/2 within a group, the kernel of copies with their cosine computed exactly.
        // Fewer distinct rows than k: H is singular and must be scored with a ridge. The
        // cross-group cosines come from unit vectors, so H is a true (PSD) kernel matrix.
        let vecs: Vec<[f64; 3]> = (0..k - 1)
            .map(|a| {
                let v = [u[3 * a], u[3 * a + 1], u[3 * a + 2] + 2.0];
                let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                [v[0] / n, v[1] / n, v[2] / n]
            })
            .collect();
        let full: Vec<f64> = (0..k * k)
            .map(|idx| {
                let (a, b) = (groups[idx % k], groups[idx / k]);
                if a == b {
                    0.5
                } else {
                    arccos_kernel(vecs[a].iter().zip(&vecs[b]).map(|(x, y)| x * y).sum())
                }
            })
            .collect();
        let out = scores_of_matrix(&full, k, p)
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert!(out.ridge > 0.0, "a singular H was factored without a ridge");
        check_scores(&out, p, true)?;
    }

    #[test]
    fn exactly_parallel_rows_take_a_ridge(
        k in 2usize..=11,
        p_frac in 0.0..1.0f64,
        m in 0usize..3,
        signs in any::<u64>(),
        scales in prop::collection::vec(-8i32..8, 11),
    ) {
        // Rows of ±1 of length d = 4^m normalise to exactly ±2^-m, so rows that are power-of-two
        // multiples of one another have cosine exactly 1: H is all 1/2, singular.
        let d = 1usize << (2 * m);
        let row: Vec<f64> = (0..d).map(|j| if (signs >> j) & 1 == 1 { 1.0 } else { -1.0 }).collect();
        let x: Vec<f64> = (0..k)
            .flat_map(|r| {
                let c = 2f64.powi(scales[r]);
                row.iter().map(move |v| v * c)
            })
            .collect();
        let p = 1 + ((k - 1) as f64 * p_frac) as usize;
        let out = score_block(&x, k, d, p, 1).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert!(out.ridge > 0.0, "a singular H was factored without a ridge");
        check_scores(&out, p, true)?;
    }

    #[test]
    fn kernel_is_bounded_and_matches_libm(
        u in prop_oneof![
            4 => -1.0..=1.0f64,
            2 => -2.0..=2.0f64,
            1 => prop_oneof![Just(1.0), Just(-1.0), Just(0.5), Just(-0.5), Just(1e-300), Just(-0.0)],
        ]
    ) {
        let h = arccos_kernel(u);
        let c = u.clamp(-1.0, 1.0);
        let want = c * (std::f64::consts::PI - c.acos()) / (2.0 * std::f64::consts::PI);
        // H(u) = u (π − arccos u) / (2π) lies in [−0.11, 1/2] on [−1, 1]; cosines beyond ±1 are
        // rounding and clip to the ends.
        prop_assert!((-0.11..=0.5).contains(&h), "H({u}) = {h}");
        // asin is within 1e-15 of libm (kernel.rs tests it on a grid); the kernel multiplies it
        // by |u|/(2π) < 0.16, and libm's own acos adds about one ulp of π.
        prop_assert!((h - want).abs() <= 1e-15, "H({u}) = {h}, libm gives {want}");
        if (-1.0..=1.0).contains(&u) {
            prop_assert!((asin(u) - u.asin()).abs() <= 1e-15);
            prop_assert_eq!(asin(-u).to_bits(), (-asin(u)).to_bits());
        }
    }
}
