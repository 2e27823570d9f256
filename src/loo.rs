//! Leave-one-out complexity gaps of one block from a single in-place Cholesky factorisation of H.
//!
//! With G = H⁻¹ and α = G y, removing example i changes yᵀH⁻¹y by α_i² / G_ii. One factorisation
//! H = L Lᵀ gives α by two triangular solves; the positives sit last in the block, so the
//! diagonal of G over them is the squared column norms of inv(L_SS), L_SS the trailing p x p block.

use std::time::Instant;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::error::CoreError;
use crate::kernel::dot;

/// A pivot L_ii² below this times mean(diag H) (or below `k · ε` times it, if larger) counts as
/// singular. Two rows at an angle θ give a pivot near θ/π. Below θ ≈ 1e-9 rad float64 cannot
/// resolve the pair: rounding H's entries to the nearest float64, and nothing else, already
/// moves the pair's scores by orders of magnitude (measured against 60-digit arithmetic on the
/// same inputs). Such rows are duplicates for all float64 can tell, and are scored as such,
/// with a ridge. Real data sit far above: the smallest pivot of scikit-learn's digits is 0.02.
pub const SINGULAR_PIVOT: f64 = 5e-10;
/// The first ridge tried, relative to mean(diag H), once H is singular: it lifts the pivot of an
/// exact duplicate to at least itself, above [`SINGULAR_PIVOT`].
pub const FIRST_RIDGE: f64 = 1e-9;
/// The largest ridge tried, relative to mean(diag H), before giving up.
pub const MAX_RIDGE: f64 = 1e-6;

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
}

/// Seconds spent in each step of [`block_scores_timed`], summed over ridge retries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LooTimes {
    /// Building H (whatever `build` does), every attempt.
    pub build: f64,
    /// The Cholesky factorisation, every attempt.
    pub cholesky: f64,
    /// The two triangular solves for α.
    pub solve: f64,
    /// The inverse of the trailing p x p block of L and its squared column norms.
    pub inverse: f64,
}

fn mean_diag_lower(h: &[f64], k: usize) -> f64 {
    (0..k).map(|j| h[j * k + j]).sum::<f64>() / k as f64
}

/// Factors the lower triangle of `h` in place. On failure `h` holds garbage.
pub fn cholesky_lower(h: &mut [f64], k: usize, par: Par) -> bool {
    let floor = SINGULAR_PIVOT.max(k as f64 * f64::EPSILON) * mean_diag_lower(h, k);
    let mut buf = MemBuffer::new(cholesky_in_place_scratch::<f64>(k, par, Default::default()));
    let ok = cholesky_in_place(
        MatMut::from_column_major_slice_mut(h, k, k),
        Default::default(),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .is_ok();
    ok && {
        (0..k).all(|j| {
            let pivot = h[j * k + j];
            pivot.is_finite() && pivot * pivot > floor
        })
    }
}

/// Factors H = L Lᵀ in place, adding a ridge when H is numerically singular.
///
/// `build` writes the lower triangle of H into the buffer; it is called again before each ridge
/// retry, since a failed factorisation destroys H. `accept` sees the factor and may reject it
/// (for example when a quantity derived from it is not finite), which moves to the next ridge.
/// Returns the relative ridge used (0 when none).
pub fn factor_with_ridge(
    h: &mut [f64],
    k: usize,
    par: Par,
    build: impl FnMut(&mut [f64]) -> Result<(), CoreError>,
    accept: impl FnMut(&[f64]) -> bool,
) -> Result<f64, CoreError> {
    factor_with_ridge_timed(h, k, par, build, accept, &mut LooTimes::default())
}

/// [`factor_with_ridge`], adding the seconds spent building H and factoring it to `times`.
pub fn factor_with_ridge_timed(
    h: &mut [f64],
    k: usize,
    par: Par,
    mut build: impl FnMut(&mut [f64]) -> Result<(), CoreError>,
    mut accept: impl FnMut(&[f64]) -> bool,
    times: &mut LooTimes,
) -> Result<f64, CoreError> {
    let start = Instant::now();
    build(h)?;
    times.build += start.elapsed().as_secs_f64();
    let scale = mean_diag_lower(h, k);
    let mut ridge = 0.0;
    loop {
        if ridge > 0.0 {
            let start = Instant::now();
            build(h)?;
            let add = ridge * scale;
            (0..k).for_each(|j| h[j * k + j] += add);
            times.build += start.elapsed().as_secs_f64();
        }
        let start = Instant::now();
        let factored = cholesky_lower(h, k, par);
        times.cholesky += start.elapsed().as_secs_f64();
        if factored && accept(h) {
            return Ok(ridge);
        }
        ridge = if ridge == 0.0 {
            FIRST_RIDGE
        } else {
            ridge * 10.0
        };
        if ridge > MAX_RIDGE * 1.000_001 {
            return Err(CoreError::NotPositiveDefinite {
                max_ridge: MAX_RIDGE,
            });
        }
    }
}

/// Columns of L handled per step of the blocked triangular solves.
const SOLVE_BLOCK: usize = 256;
/// Rows of the solution one task updates at a time in the forward solve.
const SOLVE_ROWS: usize = 512;

/// Solves L z = y in place (`z` holds y on entry), L the lower factor in `l` (column-major).
///
/// Blocked and right-looking: after each block of `z` is solved, the rows below are updated in
/// parallel chunks. Each z_i sees the same operations in the same order, `z_i -= L_ij z_j` for
/// j = 0, 1, …, whatever the chunks, so the result does not depend on the thread count (faer's
/// parallel single-right-hand-side solve splits its sums by thread count, and so would).
pub fn solve_lower(l: &[f64], k: usize, z: &mut [f64], par: Par) {
    assert_eq!(
        z.len(),
        k,
        "solve_lower: right-hand side of the wrong length"
    );
    for b0 in (0..k).step_by(SOLVE_BLOCK) {
        let b1 = (b0 + SOLVE_BLOCK).min(k);
        for j in b0..b1 {
            let zj = z[j] / l[j * k + j];
            z[j] = zj;
            let col = &l[j * k..(j + 1) * k];
            for (zi, lij) in z[j + 1..b1].iter_mut().zip(&col[j + 1..b1]) {
                *zi -= lij * zj;
            }
        }
        let (head, tail) = z.split_at_mut(b1);
        let solved = &head[b0..b1];
        let update = |(c, chunk): (usize, &mut [f64])| {
            let r0 = b1 + c * SOLVE_ROWS;
            for (j, &zj) in (b0..b1).zip(solved) {
                let col = &l[j * k + r0..j * k + r0 + chunk.len()];
                for (zi, lij) in chunk.iter_mut().zip(col) {
                    *zi -= lij * zj;
                }
            }
        };
        match par {
            Par::Seq => tail.chunks_mut(SOLVE_ROWS).enumerate().for_each(update),
            _ => tail.par_chunks_mut(SOLVE_ROWS).enumerate().for_each(update),
        }
    }
}

/// Solves Lᵀ x = z in place (`x` holds z on entry), L the lower factor in `l` (column-major).
///
/// Blocked from the last block up: the dot products of a block's columns of L with the part of
/// x already solved run in parallel, one whole dot product per task in a fixed order, so again the
/// thread count cannot change a bit.
pub fn solve_upper_transposed(l: &[f64], k: usize, x: &mut [f64], par: Par) {
    assert_eq!(
        x.len(),
        k,
        "solve_upper_transposed: right-hand side of the wrong length"
    );
    let starts: Vec<usize> = (0..k).step_by(SOLVE_BLOCK).collect();
    for &b0 in starts.iter().rev() {
        let b1 = (b0 + SOLVE_BLOCK).min(k);
        let (head, solved) = x.split_at_mut(b1);
        let solved = &*solved;
        let block = &mut head[b0..b1];
        let reduce = |(j, xj): (usize, &mut f64)| {
            let col = &l[j * k + b1..(j + 1) * k];
            *xj -= dot(col, solved);
        };
        match par {
            Par::Seq => block
                .iter_mut()
                .enumerate()
                .for_each(|(c, v)| reduce((b0 + c, v))),
            _ => block
                .par_iter_mut()
                .enumerate()
                .with_min_len(16)
                .for_each(|(c, v)| reduce((b0 + c, v))),
        }
        for j in (b0..b1).rev() {
            let col = &l[j * k..(j + 1) * k];
            let s = dot(&col[j + 1..b1], &x[j + 1..b1]);
            x[j] = (x[j] - s) / col[j];
        }
    }
}

/// Solves H α = y given the lower Cholesky factor in `l`: L z = y, then Lᵀ α = z.
///
/// Both solves are written so that the thread count cannot change a bit of α.
pub fn solve(l: &[f64], k: usize, y: &[f64], par: Par) -> Vec<f64> {
    let mut alpha = y.to_vec();
    solve_lower(l, k, &mut alpha, par);
    solve_upper_transposed(l, k, &mut alpha, par);
    alpha
}

/// Columns of inv(L_SS) one task solves for at a time in [`trailing_inverse_diagonal`].
const INVERSE_PANEL: usize = 64;

/// diag(H⁻¹) over the trailing `p` rows: squared column norms of the inverse of L's trailing block.
///
/// inv(L_SS) is found panel by panel: columns `c0..c0+w` of it are zero above row c0, so they solve
/// L[c0.., c0..] X = I[c0.., c0..c0+w], p³/3 flops in all. Panels are independent tasks, each solved
/// sequentially, so the result does not depend on the thread count, and the scratch is one
/// p x w panel per thread rather than a p x p inverse.
pub fn trailing_inverse_diagonal(l: &[f64], k: usize, p: usize, par: Par) -> Vec<f64> {
    let l = MatRef::from_column_major_slice(l, k, k);
    let lss = l.submatrix(k - p, k - p, p, p);
    let mut diag = vec![0.0f64; p];
    let panel = |(b, out): (usize, &mut [f64])| {
        let c0 = b * INVERSE_PANEL;
        let (w, m) = (out.len(), p - c0);
        let mut x = Mat::<f64>::zeros(m, w);
        (0..w).for_each(|c| x[(c, c)] = 1.0);
        solve_lower_triangular_in_place(lss.submatrix(c0, c0, m, m), x.as_mut(), Par::Seq);
        for (c, d) in out.iter_mut().enumerate() {
            let col = x
                .col(c)
                .try_as_col_major()
                .expect("a fresh Mat is column-major");
            let tail = &col.as_slice()[c..];
            *d = dot(tail, tail);
        }
    };
    match par {
        Par::Seq => diag.chunks_mut(INVERSE_PANEL).enumerate().for_each(panel),
        _ => diag
            .par_chunks_mut(INVERSE_PANEL)
            .enumerate()
            .for_each(panel),
    }
    diag
}

/// Leave-one-out scores of the last `p` of the `k` examples whose kernel `build` writes.
///
/// Labels are −1 for the first `k − p` (negatives) and +1 for the last `p` (positives).
pub fn block_scores(
    h: &mut [f64],
    k: usize,
    p: usize,
    par: Par,
    build: impl FnMut(&mut [f64]) -> Result<(), CoreError>,
) -> Result<BlockScores, CoreError> {
    block_scores_timed(h, k, p, par, build).map(|(scores, _)| scores)
}

/// [`block_scores`] with the seconds spent in each step.
pub fn block_scores_timed(
    h: &mut [f64],
    k: usize,
    p: usize,
    par: Par,
    build: impl FnMut(&mut [f64]) -> Result<(), CoreError>,
) -> Result<(BlockScores, LooTimes), CoreError> {
    if p == 0 || p > k || h.len() != k * k {
        return Err(CoreError::Shape(format!(
            "{p} positives in a block of {k} with {} kernel entries",
            h.len()
        )));
    }
    let y: Vec<f64> = (0..k).map(|i| if i < k - p { -1.0 } else { 1.0 }).collect();
    let mut found = None;
    let mut times = LooTimes::default();
    let (mut solve_s, mut inverse_s) = (0.0, 0.0);
    let accept = |l: &[f64]| {
        let start = Instant::now();
        let alpha = solve(l, k, &y, par);
        let mid = Instant::now();
        let diag = trailing_inverse_diagonal(l, k, p, par);
        solve_s += (mid - start).as_secs_f64();
        inverse_s += mid.elapsed().as_secs_f64();
        let out = terms(&alpha[k - p..], &diag);
        // A factor that passed the pivot test can still overflow here (H scaled near the bottom
        // of the float range): such a factor is rejected like a singular one.
        let ok = diag.iter().all(|&d| d > 0.0)
            && [&out.score, &out.a2, &out.ab, &out.b2]
                .iter()
                .all(|v| v.iter().all(|x| x.is_finite()));
        found = ok.then_some(out);
        ok
    };
    let ridge = factor_with_ridge_timed(h, k, par, build, accept, &mut times)?;
    times.solve = solve_s;
    times.inverse = inverse_s;
    let out = found.ok_or(CoreError::NonFinite("the factorisation"))?;
    Ok((BlockScores { ridge, ..out }, times))
}

/// Scores and terms of the positives from their α_i and D = G_ii (labels +1).
fn terms(alpha: &[f64], diag: &[f64]) -> BlockScores {
    let mut out = BlockScores {
        score: Vec::with_capacity(alpha.len()),
        a2: Vec::with_capacity(alpha.len()),
        ab: Vec::with_capacity(alpha.len()),
        b2: Vec::with_capacity(alpha.len()),
        ridge: 0.0,
    };
    for (&a, &d) in alpha.iter().zip(diag) {
        let b = a - d;
        out.score.push(a * a / d);
        out.a2.push(b * b / d);
        out.ab.push(b);
        out.b2.push(d);
    }
    out
}

/// yᵀ H⁻¹ y = ‖L⁻¹ y‖² for the kernel `build` writes; returns it with the relative ridge used.
pub fn complexity(
    h: &mut [f64],
    k: usize,
    y: &[f64],
    par: Par,
    build: impl FnMut(&mut [f64]) -> Result<(), CoreError>,
) -> Result<(f64, f64), CoreError> {
    if y.len() != k || h.len() != k * k {
        return Err(CoreError::Shape(format!(
            "{} labels for a block of {k}",
            y.len()
        )));
    }
    let mut value = f64::NAN;
    let ridge = factor_with_ridge(h, k, par, build, |l| {
        let mut z = y.to_vec();
        solve_lower(l, k, &mut z, par);
        value = z.iter().map(|v| v * v).sum();
        value.is_finite()
    })?;
    Ok((value, ridge))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small symmetric positive definite matrix with a known structure.
    fn spd(k: usize) -> Vec<f64> {
        let mut h = vec![0.0; k * k];
        for j in 0..k {
            for i in 0..k {
                let (a, b) = (i as f64, j as f64);
                h[j * k + i] = 1.0 / (1.0 + (a - b).abs()) + if i == j { 1.0 } else { 0.0 };
            }
        }
        h
    }

    fn inverse(h: &[f64], k: usize) -> Vec<f64> {
        // Gauss-Jordan on a copy, good enough for the well-conditioned test matrices.
        let mut a: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                let mut r: Vec<f64> = (0..k).map(|j| h[j * k + i]).collect();
                r.extend((0..k).map(|j| if i == j { 1.0 } else { 0.0 }));
                r
            })
            .collect();
        for c in 0..k {
            let piv = a[c][c];
            a[c].iter_mut().for_each(|v| *v /= piv);
            for r in 0..k {
                if r != c {
                    let f = a[r][c];
                    let row_c = a[c].clone();
                    a[r].iter_mut().zip(&row_c).for_each(|(v, w)| *v -= f * w);
                }
            }
        }
        (0..k * k).map(|idx| a[idx % k][k + idx / k]).collect()
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
            let mut h = vec![0.0; k * k];
            let out = block_scores(&mut h, k, p, Par::Seq, |h| {
                h.copy_from_slice(&full);
                Ok(())
            })
            .unwrap();
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
    fn trailing_diagonal_matches_full_inverse() {
        let k = 20;
        let mut h = spd(k);
        assert!(cholesky_lower(&mut h, k, Par::Seq));
        let g = inverse(&spd(k), k);
        let p = 6;
        let diag = trailing_inverse_diagonal(&h, k, p, Par::rayon(2));
        for (j, d) in diag.iter().enumerate() {
            let want = g[(k - p + j) * k + (k - p + j)];
            assert!((d - want).abs() < 1e-12 * want);
        }
    }

    #[test]
    fn blocked_solves_match_faer_and_ignore_threads() {
        use faer::linalg::triangular_solve::{
            solve_lower_triangular_in_place, solve_upper_triangular_in_place,
        };
        for k in [1, 2, 255, 256, 257, 700, 1300] {
            let mut l = spd(k);
            assert!(cholesky_lower(&mut l, k, Par::Seq));
            (0..k).for_each(|j| (0..j).for_each(|i| l[j * k + i] = 0.0));
            let y: Vec<f64> = (0..k).map(|i| ((i * 37 % 11) as f64) - 5.0).collect();
            let mut want = y.clone();
            let lm = MatRef::from_column_major_slice(&l, k, k);
            let mut col = MatMut::from_column_major_slice_mut(&mut want, k, 1);
            solve_lower_triangular_in_place(lm, col.as_mut(), Par::Seq);
            solve_upper_triangular_in_place(lm.transpose(), col, Par::Seq);
            let got = solve(&l, k, &y, Par::Seq);
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-12 * scale, "k={k}: {g} vs {w}");
            }
            for threads in [2, 3, 5] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let par = pool.install(|| solve(&l, k, &y, Par::rayon(threads)));
                assert_eq!(par, got, "k={k} threads={threads}");
            }
        }
    }

    #[test]
    fn panelled_inverse_diagonal_matches_a_whole_inverse() {
        let (k, p) = (400, 150);
        let mut h = spd(k);
        assert!(cholesky_lower(&mut h, k, Par::Seq));
        let l = MatRef::from_column_major_slice(&h, k, k);
        let mut inv = Mat::<f64>::zeros(p, p);
        faer::linalg::triangular_inverse::invert_lower_triangular(
            inv.as_mut(),
            l.submatrix(k - p, k - p, p, p),
            Par::Seq,
        );
        let got = trailing_inverse_diagonal(&h, k, p, Par::Seq);
        for (j, g) in got.iter().enumerate() {
            let want: f64 = (j..p).map(|i| inv[(i, j)] * inv[(i, j)]).sum();
            assert!(
                (g - want).abs() <= 1e-12 * want,
                "column {j}: {g} vs {want}"
            );
        }
        for threads in [2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let par = pool.install(|| trailing_inverse_diagonal(&h, k, p, Par::rayon(threads)));
            assert_eq!(par, got);
        }
    }

    #[test]
    fn complexity_is_quadratic_form_of_inverse() {
        let k = 9;
        let full = spd(k);
        let y: Vec<f64> = (0..k)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let mut h = vec![0.0; k * k];
        let (value, ridge) = complexity(&mut h, k, &y, Par::Seq, |h| {
            h.copy_from_slice(&full);
            Ok(())
        })
        .unwrap();
        let g = inverse(&full, k);
        let want: f64 = (0..k)
            .map(|a| (0..k).map(|b| y[a] * g[b * k + a] * y[b]).sum::<f64>())
            .sum();
        assert_eq!(ridge, 0.0);
        assert!((value - want).abs() < 1e-12 * want);
    }

    #[test]
    fn duplicate_rows_take_a_ridge() {
        // Rank one: every row identical.
        let k = 5;
        let mut h = vec![0.0; k * k];
        let out = block_scores(&mut h, k, 2, Par::Seq, |h| {
            h.fill(0.5);
            Ok(())
        })
        .unwrap();
        assert!(out.ridge >= FIRST_RIDGE && out.ridge <= MAX_RIDGE);
        assert!(out.score.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn hopeless_matrix_is_an_error_not_a_panic() {
        let k = 4;
        let mut h = vec![0.0; k * k];
        let err = block_scores(&mut h, k, 1, Par::Seq, |h| {
            h.fill(-1.0);
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, CoreError::NotPositiveDefinite { .. }));
    }

    #[test]
    fn bad_shapes_are_errors() {
        let mut h = vec![0.0; 4];
        assert!(block_scores(&mut h, 2, 0, Par::Seq, |_| Ok(())).is_err());
        assert!(block_scores(&mut h, 2, 3, Par::Seq, |_| Ok(())).is_err());
        assert!(complexity(&mut h, 2, &[1.0], Par::Seq, |_| Ok(())).is_err());
    }
}
