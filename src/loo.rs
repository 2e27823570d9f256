//! Leave-one-out complexity gaps of one block from a single in-place Cholesky factorisation of H.
//!
//! With G = H⁻¹ and α = G y, removing example i changes yᵀH⁻¹y by α_i² / G_ii. One factorisation
//! H = L Lᵀ gives α by two triangular solves; the positives sit last in the block, so the
//! diagonal of G over them is the squared column norms of inv(L_SS), L_SS the trailing p x p block.

use faer::{Mat, MatMut, MatRef, Par};
use ndarray::ArrayView2;

use crate::cholesky::{factor_shifted, factor_with_ridge};
use crate::error::CoreError;
use crate::real::Real;
use crate::solve::{solve, solve_columns, solve_lower, trailing_inverse_diagonal};
use crate::timing::{NoTiming, Phase, Recorder};
use crate::views::col;

/// Scores of the positives of one block, in block order, with the ridge that was needed.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockScores {
    /// CG(i) = α_i² / G_ii.
    pub score: Vec<f64>,
    /// b² / D with D = G_ii and b = (H⁻¹)_{i,−i} y_{−i} = α_i − D y_i.
    pub a2: Vec<f64>,
    /// y_i b.
    pub ab: Vec<f64>,
    /// y_i² D.
    pub b2: Vec<f64>,
    /// The ridge added to H, relative to mean(diag H); 0 when none was needed.
    pub ridge: f64,
    /// Single precision was asked for, but the block needed float64 and was scored in it.
    pub fallback: bool,
}

/// The labels of a block of `k` with its `p` positives last: −1, then +1.
pub(crate) fn labels(k: usize, p: usize) -> Vec<f64> {
    (0..k).map(|i| if i < k - p { -1.0 } else { 1.0 }).collect()
}

/// Leave-one-out scores of the last `p` of the `k` examples whose kernel `build` writes into `h`.
///
/// Labels are −1 for the first `k − p` (negatives) and +1 for the last `p` (positives). H is
/// stored and factorised in `E`, diag(H⁻¹) solved in `E`; α and every sum read back are in f64.
pub fn block_scores<E: Real, R: Recorder>(
    h: MatMut<'_, E>,
    p: usize,
    par: Par,
    build: impl FnMut(MatMut<'_, E>, &mut R) -> Result<(), CoreError>,
    rec: &mut R,
) -> Result<BlockScores, CoreError> {
    let k = h.nrows();
    if p == 0 || p > k || h.ncols() != k {
        return Err(CoreError::Shape(format!(
            "{p} positives in a block of {k} with a {} x {} kernel",
            h.nrows(),
            h.ncols()
        )));
    }
    let y = labels(k, p);
    let mut found = None;
    let accept = |l: MatRef<'_, E>, rec: &mut R| {
        let alpha = rec.time(Phase::Solve, || solve(l, &y, par));
        let diag = rec.time(Phase::Inverse, || trailing_inverse_diagonal(l, p, par));
        let out = terms(&alpha[k - p..], &diag, &y[k - p..]);
        // A factor that passed the pivot test can still overflow here (H scaled near the bottom
        // of the float range): such a factor is rejected like a singular one.
        let ok = diag.iter().all(|&d| d > 0.0) && all_finite(&out);
        found = ok.then_some(out);
        ok
    };
    let ridge = factor_with_ridge(h, par, build, accept, rec)?;
    let out = found.ok_or(CoreError::NonFinite("the factorisation"))?;
    Ok(BlockScores { ridge, ..out })
}

/// Scores and terms of examples from their α_i, D = G_ii and labels y_i.
pub(crate) fn terms(alpha: &[f64], diag: &[f64], y: &[f64]) -> BlockScores {
    let mut out = BlockScores {
        score: Vec::with_capacity(alpha.len()),
        a2: Vec::with_capacity(alpha.len()),
        ab: Vec::with_capacity(alpha.len()),
        b2: Vec::with_capacity(alpha.len()),
        ridge: 0.0,
        fallback: false,
    };
    for ((&a, &d), &y) in alpha.iter().zip(diag).zip(y) {
        let b = a - d * y;
        out.score.push(a * a / d);
        out.a2.push(b * b / d);
        out.ab.push(y * b);
        out.b2.push(y * y * d);
    }
    out
}

fn all_finite(out: &BlockScores) -> bool {
    [&out.score, &out.a2, &out.ab, &out.b2]
        .iter()
        .all(|v| v.iter().all(|x| x.is_finite()))
}

/// Leave-one-out scores and terms of every example, for each column y of `labels` (`k x m`,
/// entries ±1), from one factorisation of the kernel `build` writes: α = H⁻¹y per column and
/// diag(H⁻¹) for every row (k³/3 flops, once). Returns one [`BlockScores`] per column, in row
/// order, and the ridge used.
pub fn label_scores<E: Real, R: Recorder>(
    h: MatMut<'_, E>,
    labels: ArrayView2<'_, f64>,
    par: Par,
    build: impl FnMut(MatMut<'_, E>, &mut R) -> Result<(), CoreError>,
    rec: &mut R,
) -> Result<(Vec<BlockScores>, f64), CoreError> {
    let (mut found, ridge) = each_column(h, labels, par, build, rec, terms, all_finite)?;
    for out in found.iter_mut() {
        out.ridge = ridge;
    }
    Ok((found, ridge))
}

/// Scores of every example for a real-valued target: [`BlockScores`] and the leave-one-out
/// residual of each row.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetScores {
    /// CG(i) = α_i² / G_ii and the authors' terms, as for a ±1 labelling.
    pub scores: BlockScores,
    /// y_i − f_i = α_i / G_ii, f_i the prediction of the kernel regressor fitted without row i.
    pub residual: Vec<f64>,
}

/// [`label_scores`] for real-valued targets, the columns of `targets` (`k x m`, finite): the
/// same scores and terms (the same bits for ±1 columns), and each row's leave-one-out residual.
pub fn target_scores<E: Real, R: Recorder>(
    h: MatMut<'_, E>,
    targets: ArrayView2<'_, f64>,
    par: Par,
    build: impl FnMut(MatMut<'_, E>, &mut R) -> Result<(), CoreError>,
    rec: &mut R,
) -> Result<(Vec<TargetScores>, f64), CoreError> {
    let scored = |alpha: &[f64], diag: &[f64], y: &[f64]| TargetScores {
        scores: terms(alpha, diag, y),
        residual: alpha.iter().zip(diag).map(|(&a, &d)| a / d).collect(),
    };
    let finite =
        |out: &TargetScores| all_finite(&out.scores) && out.residual.iter().all(|r| r.is_finite());
    let (mut found, ridge) = each_column(h, targets, par, build, rec, scored, finite)?;
    for out in found.iter_mut() {
        out.scores.ridge = ridge;
    }
    Ok((found, ridge))
}

/// `per_column(α, diag(H⁻¹), y)` for every column y of `columns` (`k x m`), from one
/// factorisation of the kernel `build` writes, and the ridge used. A factor whose diagonal of
/// H⁻¹ is not positive, or whose output `finite` refuses, is rejected like a singular one.
fn each_column<E: Real, R: Recorder, T>(
    h: MatMut<'_, E>,
    columns: ArrayView2<'_, f64>,
    par: Par,
    build: impl FnMut(MatMut<'_, E>, &mut R) -> Result<(), CoreError>,
    rec: &mut R,
    per_column: impl Fn(&[f64], &[f64], &[f64]) -> T,
    finite: impl Fn(&T) -> bool,
) -> Result<(Vec<T>, f64), CoreError> {
    let k = h.nrows();
    if k == 0 || columns.nrows() != k || h.ncols() != k {
        return Err(CoreError::Shape(format!(
            "{} labels for a block of {k}",
            columns.nrows()
        )));
    }
    let mut found = Vec::new();
    let accept = |l: MatRef<'_, E>, rec: &mut R| {
        let diag = rec.time(Phase::Inverse, || trailing_inverse_diagonal(l, k, par));
        found = columns
            .columns()
            .into_iter()
            .map(|y| {
                let y = y.to_vec();
                let alpha = rec.time(Phase::Solve, || solve(l, &y, par));
                per_column(&alpha, &diag, &y)
            })
            .collect();
        diag.iter().all(|&d| d > 0.0) && found.iter().all(&finite)
    };
    let ridge = factor_with_ridge(h, par, build, accept, rec)?;
    Ok((found, ridge))
}

/// Leave-one-out predictions of one block for every row and every column of its targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// `f_ic` at `i m + c` (`k x m`, row-major): row i's prediction for column c.
    pub values: Vec<f64>,
    /// The ridge added to H, relative to mean(diag H); 0 when none was needed.
    pub ridge: f64,
    /// Single precision was asked for, but the block needed float64 and was predicted in it.
    pub fallback: bool,
}

/// Leave-one-out predictions of the kernel regressor for every row and every column of
/// `targets` (`k x m`), from one factorisation of the kernel `build` writes in `E`.
///
/// With G = H⁻¹ and A = G Y, the regressor fitted to every row but i predicts
/// `f_ic = Y_ic − A_ic / G_ii` for row i (the score's `b = α_i − G_ii y_i`, column by column):
/// the m columns of A solved together (2k²m flops, L read twice in all) and the whole diagonal
/// of G (k³/3 flops, once) give all k·m of them. As for the scores, diag(G) is solved in `E` and
/// A in f64 from the factor in `E`.
///
/// With `shift > 0` the regressor is kernel ridge regression, H + shift · mean(diag H) · I in
/// place of H ([`factor_shifted`]): the same formula, exact for it too.
pub fn predictions<E: Real, R: Recorder>(
    h: MatMut<'_, E>,
    targets: ArrayView2<'_, f64>,
    shift: f64,
    par: Par,
    build: impl FnMut(MatMut<'_, E>, &mut R) -> Result<(), CoreError>,
    rec: &mut R,
) -> Result<Predictions, CoreError> {
    let (k, m) = targets.dim();
    if k == 0 || h.nrows() != k || h.ncols() != k {
        return Err(CoreError::Shape(format!(
            "{k} rows of targets for a block of {}",
            h.nrows()
        )));
    }
    let mut values = Vec::new();
    let accept = |l: MatRef<'_, E>, rec: &mut R| {
        let diag = rec.time(Phase::Inverse, || trailing_inverse_diagonal(l, k, par));
        let mut a = Mat::<f64>::from_fn(k, m, |i, c| targets[(i, c)]);
        rec.time(Phase::Solve, || solve_columns(l, a.as_mut(), par));
        values = vec![0.0; k * m];
        for (c, y) in targets.columns().into_iter().enumerate() {
            for (i, (&a, &y)) in col(a.as_ref(), c).iter().zip(y).enumerate() {
                values[i * m + c] = y - a / diag[i];
            }
        }
        diag.iter().all(|&d| d > 0.0) && values.iter().all(|v| v.is_finite())
    };
    let ridge = factor_shifted(h, par, shift, build, accept, rec)?;
    Ok(Predictions {
        values,
        ridge,
        fallback: false,
    })
}

/// The coefficients A = H⁻¹ Y (`k x m`, in f64) of the kernel regressor fitted to every row of
/// the block whose kernel `build` writes in `E`, for each column of `targets` (`k x m`), solved
/// in f64 from the factor in `E` (as the leave-one-out predictions are); with the ridge used.
pub fn coefficients<E: Real, R: Recorder>(
    h: MatMut<'_, E>,
    targets: ArrayView2<'_, f64>,
    par: Par,
    build: impl FnMut(MatMut<'_, E>, &mut R) -> Result<(), CoreError>,
    rec: &mut R,
) -> Result<(Mat<f64>, f64), CoreError> {
    let (k, m) = targets.dim();
    if k == 0 || h.nrows() != k || h.ncols() != k {
        return Err(CoreError::Shape(format!(
            "{k} rows of targets for a block of {}",
            h.nrows()
        )));
    }
    let mut a = Mat::<f64>::zeros(k, m);
    let accept = |l: MatRef<'_, E>, rec: &mut R| {
        a = Mat::<f64>::from_fn(k, m, |i, c| targets[(i, c)]);
        rec.time(Phase::Solve, || solve_columns(l, a.as_mut(), par));
        (0..m).all(|c| col(a.as_ref(), c).iter().all(|v| v.is_finite()))
    };
    let ridge = factor_with_ridge(h, par, build, accept, rec)?;
    Ok((a, ridge))
}

/// yᵀ H⁻¹ y = ‖L⁻¹ y‖² for every column y of `labels` (`k x m`), from one factorisation of the
/// kernel `build` writes; returns the m values with the relative ridge used.
pub fn complexity(
    h: MatMut<'_, f64>,
    labels: ArrayView2<'_, f64>,
    par: Par,
    build: impl FnMut(MatMut<'_, f64>, &mut NoTiming) -> Result<(), CoreError>,
) -> Result<(Vec<f64>, f64), CoreError> {
    let k = h.nrows();
    if labels.nrows() != k || h.ncols() != k {
        return Err(CoreError::Shape(format!(
            "{} labels for a block of {k}",
            labels.nrows()
        )));
    }
    let mut values = Vec::new();
    let accept = |l: MatRef<'_, f64>, _: &mut NoTiming| {
        values = labels
            .columns()
            .into_iter()
            .map(|y| {
                let mut z = y.to_vec();
                solve_lower(l, &mut z, par);
                z.iter().map(|v| v * v).sum::<f64>()
            })
            .collect();
        values.iter().all(|v| v.is_finite())
    };
    let ridge = factor_with_ridge(h, par, build, accept, &mut NoTiming)?;
    Ok((values, ridge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cholesky::{FIRST_RIDGE, MAX_RIDGE};
    use crate::solve::tests::{inverse, spd};
    use crate::views::cols_mut;
    use ndarray::Array2;

    /// A `build` that copies the column-major `full` into H.
    fn copy_of(
        full: &[f64],
    ) -> impl FnMut(MatMut<'_, f64>, &mut NoTiming) -> Result<(), CoreError> + '_ {
        move |h, _| {
            let k = h.nrows();
            for (j, c) in cols_mut(h).enumerate() {
                c.copy_from_slice(&full[j * k..(j + 1) * k]);
            }
            Ok(())
        }
    }

    fn scores(full: &[f64], k: usize, p: usize) -> Result<BlockScores, CoreError> {
        let mut h = vec![0.0; k * k];
        block_scores(
            MatMut::from_column_major_slice_mut(&mut h, k, k),
            p,
            Par::Seq,
            copy_of(full),
            &mut NoTiming,
        )
    }

    fn loo_by_resolve(h: &[f64], k: usize, y: &[f64], i: usize) -> f64 {
        let full = {
            let g = inverse(h, k);
            (0..k)
                .map(|a| (0..k).map(|b| y[a] * g[b * k + a] * y[b]).sum::<f64>())
                .sum::<f64>()
        };
        let keep: Vec<usize> = (0..k).filter(|&j| j != i).collect();
        let m = k - 1;
        let sub: Vec<f64> = (0..m * m)
            .map(|idx| h[keep[idx / m] * k + keep[idx % m]])
            .collect();
        let g = inverse(&sub, m);
        let part: f64 = (0..m)
            .map(|a| {
                (0..m)
                    .map(|b| y[keep[a]] * g[b * m + a] * y[keep[b]])
                    .sum::<f64>()
            })
            .sum();
        full - part
    }

    #[test]
    fn scores_match_explicit_leave_one_out() {
        for (k, p) in [(2, 1), (3, 2), (7, 3), (12, 12), (17, 5)] {
            let full = spd(k);
            let out = scores(&full, k, p).unwrap();
            assert_eq!(out.ridge, 0.0);
            let y: Vec<f64> = (0..k).map(|i| if i < k - p { -1.0 } else { 1.0 }).collect();
            for j in 0..p {
                let want = loo_by_resolve(&full, k, &y, k - p + j);
                let got = out.score[j];
                assert!(
                    (got - want).abs() <= 1e-10 * want.abs().max(1.0),
                    "k={k} p={p} j={j}"
                );
                let sum = out.a2[j] + 2.0 * out.ab[j] + out.b2[j];
                assert!((sum - got).abs() <= 1e-12 * got.abs().max(1.0));
            }
        }
    }

    #[test]
    fn real_targets_match_explicit_leave_one_out() {
        for k in [1, 2, 3, 7, 13] {
            let full = spd(k);
            let targets = Array2::from_shape_fn((k, 2), |(i, c)| {
                ((i * 7 + c * 3) % 11) as f64 / 3.0 - 1.7 + c as f64 * 10.0
            });
            let mut h = vec![0.0; k * k];
            let (all, ridge) = target_scores(
                MatMut::from_column_major_slice_mut(&mut h, k, k),
                targets.view(),
                Par::Seq,
                copy_of(&full),
                &mut NoTiming,
            )
            .unwrap();
            assert_eq!(ridge, 0.0);
            let g = inverse(&full, k);
            for (c, out) in all.iter().enumerate() {
                let y = targets.column(c).to_vec();
                for i in 0..k {
                    let want = loo_by_resolve(&full, k, &y, i);
                    let got = out.scores.score[i];
                    assert!(
                        (got - want).abs() <= 1e-10 * want.abs().max(1.0),
                        "k={k} i={i}"
                    );
                    // The residual is y_i minus the fit of the others at i: H_{i,−i} H_{−i}⁻¹ y_{−i}.
                    let alpha: f64 = (0..k).map(|b| g[b * k + i] * y[b]).sum();
                    let residual = alpha / g[i * k + i];
                    assert!((out.residual[i] - residual).abs() <= 1e-10 * residual.abs().max(1.0));
                }
            }
        }
    }

    #[test]
    fn complexity_is_quadratic_form_of_inverse_for_every_column() {
        let k = 9;
        let full = spd(k);
        let labels =
            Array2::from_shape_fn((k, 3), |(i, c)| if (i + c) % 3 == 0 { 1.0 } else { -1.0 });
        let mut h = vec![0.0; k * k];
        let (values, ridge) = complexity(
            MatMut::from_column_major_slice_mut(&mut h, k, k),
            labels.view(),
            Par::Seq,
            copy_of(&full),
        )
        .unwrap();
        assert_eq!(ridge, 0.0);
        let g = inverse(&full, k);
        for (c, value) in values.iter().enumerate() {
            let y = labels.column(c);
            let want: f64 = (0..k)
                .map(|a| (0..k).map(|b| y[a] * g[b * k + a] * y[b]).sum::<f64>())
                .sum();
            assert!((value - want).abs() < 1e-12 * want);
        }
    }

    #[test]
    fn duplicate_rows_take_a_ridge() {
        // Rank one: every row identical.
        let k = 5;
        let out = scores(&vec![0.5; k * k], k, 2).unwrap();
        assert!(out.ridge >= FIRST_RIDGE && out.ridge <= MAX_RIDGE);
        assert!(out.score.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn hopeless_matrix_is_an_error_not_a_panic() {
        let err = scores(&[-1.0; 16], 4, 1).unwrap_err();
        assert!(matches!(err, CoreError::NotPositiveDefinite { .. }));
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(scores(&[0.0; 4], 2, 0).is_err());
        assert!(scores(&[0.0; 4], 2, 3).is_err());
        let mut h = vec![0.0; 4];
        let labels = Array2::<f64>::ones((1, 1));
        assert!(complexity(
            MatMut::from_column_major_slice_mut(&mut h, 2, 2),
            labels.view(),
            Par::Seq,
            copy_of(&[0.0; 4])
        )
        .is_err());
    }
}
