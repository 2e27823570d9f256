//! Triangular solves with a Cholesky factor in a fixed order, so no thread count changes a bit.

use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::real::Real;
use crate::simd::{dispatch, Simd};
use crate::views::{col, cols_mut};

/// Columns of L handled per step of the blocked triangular solves.
const SOLVE_BLOCK: usize = 256;
/// Rows of the solution one task updates at a time in the forward solve.
const SOLVE_ROWS: usize = 512;

/// Solves L z = y in place (`z` holds y on entry), L the lower factor in the `k x k` view `l`,
/// in f64 arithmetic whatever type L is stored in: [`solve_lower_columns`] of one column.
pub fn solve_lower<E: Real>(l: MatRef<'_, E>, z: &mut [f64], par: Par) {
    let k = z.len();
    solve_lower_columns(l, MatMut::from_column_major_slice_mut(z, k, 1), par);
}

/// Solves L Z = Y in place for every column of `z` (`k x m`, holding Y on entry), L the lower
/// factor in the `k x k` view `l`, in f64 arithmetic whatever type L is stored in.
///
/// Blocked and right-looking: after each block of rows of Z is solved, the rows below are
/// updated in parallel chunks, every column of a chunk in the same task, so each piece of L is
/// read once for all m columns (the suggestion pass solves one per class). Each z_ic sees the
/// same operations in the same order, `z_ic -= L_ij z_jc` for j = 0, 1, …, whatever the chunks,
/// the thread count or the other columns: the result is the bits of one column solved alone, on
/// any number of threads (faer's parallel solves split their sums by thread count, and would not
/// be).
pub fn solve_lower_columns<E: Real>(l: MatRef<'_, E>, z: MatMut<'_, f64>, par: Par) {
    let k = l.nrows();
    assert_eq!(
        z.nrows(),
        k,
        "solve_lower: right-hand side of the wrong length"
    );
    let mut columns: Vec<&mut [f64]> = cols_mut(z).collect();
    if columns.is_empty() {
        return;
    }
    for b0 in (0..k).step_by(SOLVE_BLOCK) {
        let b1 = (b0 + SOLVE_BLOCK).min(k);
        for j in b0..b1 {
            let col = col(l, j);
            for z in columns.iter_mut() {
                let zj = z[j] / col[j].to_f64();
                z[j] = zj;
                for (zi, lij) in z[j + 1..b1].iter_mut().zip(&col[j + 1..b1]) {
                    *zi -= lij.to_f64() * zj;
                }
            }
        }
        // Per chunk of rows below the block, that chunk of every column.
        let mut solved = Vec::with_capacity(columns.len());
        let mut chunks: Vec<Vec<&mut [f64]>> = (0..(k - b1).div_ceil(SOLVE_ROWS))
            .map(|_| Vec::with_capacity(columns.len()))
            .collect();
        for z in columns.iter_mut() {
            let (head, tail) = z.split_at_mut(b1);
            solved.push(&head[b0..b1]);
            for (c, chunk) in tail.chunks_mut(SOLVE_ROWS).enumerate() {
                chunks[c].push(chunk);
            }
        }
        let update = |(c, chunk): (usize, Vec<&mut [f64]>)| {
            dispatch(LowerUpdate {
                l,
                columns: b0..b1,
                r0: b1 + c * SOLVE_ROWS,
                chunk,
                solved: &solved,
            })
        };
        match par {
            Par::Seq => chunks.into_iter().enumerate().for_each(update),
            _ => chunks.into_par_iter().enumerate().for_each(update),
        }
    }
}

/// Solves Lᵀ X = Z in place for every column of `x` (`k x m`, holding Z on entry), L the lower
/// factor in the view `l`.
///
/// Blocked from the last block up: the dot products of a block's columns of L with the part of
/// X already solved run in parallel, one column of L per task against every column of X, each
/// dot product whole and in a fixed order, so neither the thread count nor the other columns
/// can change a bit.
pub fn solve_upper_transposed_columns<E: Real>(l: MatRef<'_, E>, x: MatMut<'_, f64>, par: Par) {
    let k = l.nrows();
    assert_eq!(
        x.nrows(),
        k,
        "solve_upper_transposed: right-hand side of the wrong length"
    );
    let mut columns: Vec<&mut [f64]> = cols_mut(x).collect();
    let m = columns.len();
    if m == 0 {
        return;
    }
    let starts: Vec<usize> = (0..k).step_by(SOLVE_BLOCK).collect();
    let mut sums = vec![0.0f64; SOLVE_BLOCK * m];
    for &b0 in starts.iter().rev() {
        let b1 = (b0 + SOLVE_BLOCK).min(k);
        let solved: Vec<&[f64]> = columns.iter().map(|x| &x[b1..]).collect();
        // sums[r m + c] = L[b1.., b0 + r] · X[b1.., c]
        let reduce = |(r, out): (usize, &mut [f64])| {
            dispatch(Dots {
                a: &col(l, b0 + r)[b1..],
                bs: &solved,
                out,
            })
        };
        let sums = &mut sums[..(b1 - b0) * m];
        match par {
            Par::Seq => sums.chunks_mut(m).enumerate().for_each(reduce),
            _ => sums
                .par_chunks_mut(m)
                .with_min_len(16)
                .enumerate()
                .for_each(reduce),
        }
        for (c, x) in columns.iter_mut().enumerate() {
            for (r, xj) in x[b0..b1].iter_mut().enumerate() {
                *xj -= sums[r * m + c];
            }
            for j in (b0..b1).rev() {
                let col = col(l, j);
                let s = E::dot_f64(&col[j + 1..b1], &x[j + 1..b1]);
                x[j] = (x[j] - s) / col[j].to_f64();
            }
        }
    }
}

/// Rows of Z one pass of [`LowerUpdate`] keeps in cache for every column at once.
const UPDATE_ROWS: usize = 128;

/// The update of the forward solve below a solved block of rows: for the rows `r0..` of
/// `chunk` (the same rows of every column of Z), `z_ic -= L_ij z_jc` for the columns j of L in
/// `columns`, in order, z_jc read from `solved`. Compiled per instruction set ([`dispatch`]):
/// elementwise products and differences, no fused multiply-add, so every width gives the same bits.
struct LowerUpdate<'a, 'z, E> {
    l: MatRef<'a, E>,
    columns: std::ops::Range<usize>,
    r0: usize,
    chunk: Vec<&'z mut [f64]>,
    solved: &'a [&'a [f64]],
}

impl<E: Real> Simd for LowerUpdate<'_, '_, E> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let LowerUpdate {
            l,
            columns,
            r0,
            mut chunk,
            solved,
        } = self;
        let rows = chunk.first().map_or(0, |z| z.len());
        for start in (0..rows).step_by(UPDATE_ROWS) {
            let end = (start + UPDATE_ROWS).min(rows);
            for j in columns.clone() {
                let col = &col(l, j)[r0 + start..r0 + end];
                for (z, s) in chunk.iter_mut().zip(solved) {
                    let zj = s[j - columns.start];
                    for (zi, lij) in z[start..end].iter_mut().zip(col) {
                        *zi -= lij.to_f64() * zj;
                    }
                }
            }
        }
    }
}

/// `out[c] = a · bs[c]` for every c, each the bits of [`Real::dot_f64`]`(a, bs[c])` (eight
/// interleaved partial sums, added in the same order), with `a` read once for four of them.
struct Dots<'a, E> {
    a: &'a [E],
    bs: &'a [&'a [f64]],
    out: &'a mut [f64],
}

impl<E: Real> Simd for Dots<'_, E> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let Dots { a, bs, out } = self;
        let whole = a.len() / 8 * 8;
        let reduce = |acc: &[f64; 8], b: &[f64]| {
            let mut sum =
                ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for (x, y) in a[whole..].iter().zip(&b[whole..]) {
                sum += x.to_f64() * y;
            }
            sum
        };
        let mut fours = bs.chunks_exact(4);
        let mut outs = out.chunks_exact_mut(4);
        for (b, o) in (&mut fours).zip(&mut outs) {
            let mut acc = [[0.0f64; 8]; 4];
            for i in (0..whole).step_by(8) {
                let mut x = [0.0f64; 8];
                for lane in 0..8 {
                    x[lane] = a[i + lane].to_f64();
                }
                for (acc, b) in acc.iter_mut().zip(b) {
                    let b = &b[i..i + 8];
                    for lane in 0..8 {
                        acc[lane] += x[lane] * b[lane];
                    }
                }
            }
            for ((o, acc), b) in o.iter_mut().zip(&acc).zip(b) {
                *o = reduce(acc, b);
            }
        }
        for (b, o) in fours.remainder().iter().zip(outs.into_remainder()) {
            let mut acc = [0.0f64; 8];
            for i in (0..whole).step_by(8) {
                for lane in 0..8 {
                    acc[lane] += a[i + lane].to_f64() * b[i + lane];
                }
            }
            *o = reduce(&acc, b);
        }
    }
}

/// Solves H α = y given the lower Cholesky factor in `l`: L z = y, then Lᵀ α = z.
///
/// Both solves are written so that the thread count cannot change a bit of α.
pub fn solve<E: Real>(l: MatRef<'_, E>, y: &[f64], par: Par) -> Vec<f64> {
    let mut alpha = y.to_vec();
    let k = alpha.len();
    solve_columns(
        l,
        MatMut::from_column_major_slice_mut(&mut alpha, k, 1),
        par,
    );
    alpha
}

/// Solves H A = Y in place for every column of `y` (`k x m`, holding Y on entry), given the
/// lower Cholesky factor in `l`: each column gets the bits [`solve`] gives it alone, and L is
/// read twice in all rather than twice per column.
pub fn solve_columns<E: Real>(l: MatRef<'_, E>, mut y: MatMut<'_, f64>, par: Par) {
    solve_lower_columns(l, y.as_mut(), par);
    solve_upper_transposed_columns(l, y, par);
}

/// Columns of inv(L_SS) one task solves for at a time in [`trailing_inverse_diagonal`].
///
/// Each panel reads the whole triangle below it, so wider panels read L fewer times; too wide
/// and two threads get too few panels to share. `inverse_panel_probe` timed widths 64 to 384:
/// 128 was 1.08–1.31x faster than 64 for p = 1500 to 6000 on 1 and 2 threads, and 1.01–1.08x
/// at p = 1024; wider ones won a few percent more at large p and lost up to 0.78x at p = 1024
/// on two threads.
/// A constant, never a function of the thread count, because it sets where the solves split.
const INVERSE_PANEL: usize = 128;

/// diag(H⁻¹) over the trailing `p` rows: squared column norms of the inverse of L's trailing block.
///
/// inv(L_SS) is found panel by panel: columns `c0..c0+w` of it are zero above row c0, so they solve
/// L[c0.., c0..] X = I[c0.., c0..c0+w], p³/3 flops in all. Panels are independent tasks, each solved
/// sequentially, so the result does not depend on the thread count, and the scratch is one
/// p x w panel per thread rather than a p x p inverse. The panels are solved in L's own type; the
/// squared norms are summed in f64.
pub fn trailing_inverse_diagonal<E: Real>(l: MatRef<'_, E>, p: usize, par: Par) -> Vec<f64> {
    inverse_diagonal_in_panels(l, p, par, INVERSE_PANEL)
}

/// [`trailing_inverse_diagonal`] with panels of `width` columns.
fn inverse_diagonal_in_panels<E: Real>(
    l: MatRef<'_, E>,
    p: usize,
    par: Par,
    width: usize,
) -> Vec<f64> {
    let k = l.nrows();
    let lss = l.submatrix(k - p, k - p, p, p);
    let mut diag = vec![0.0f64; p];
    let panel = |(b, out): (usize, &mut [f64])| {
        let c0 = b * width;
        let (w, m) = (out.len(), p - c0);
        let mut x = Mat::<E>::zeros(m, w);
        (0..w).for_each(|c| x[(c, c)] = E::narrow(1.0));
        solve_lower_triangular_in_place(lss.submatrix(c0, c0, m, m), x.as_mut(), Par::Seq);
        for (c, d) in out.iter_mut().enumerate() {
            *d = E::sum_squares(&col(x.as_ref(), c)[c..]);
        }
    };
    match par {
        Par::Seq => diag.chunks_mut(width).enumerate().for_each(panel),
        _ => diag.par_chunks_mut(width).enumerate().for_each(panel),
    }
    diag
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cholesky::cholesky_lower;
    use faer::MatMut;

    /// A small symmetric positive definite matrix with a known structure, column-major.
    pub(crate) fn spd(k: usize) -> Vec<f64> {
        let mut h = vec![0.0; k * k];
        for j in 0..k {
            for i in 0..k {
                let (a, b) = (i as f64, j as f64);
                h[j * k + i] = 1.0 / (1.0 + (a - b).abs()) + if i == j { 1.0 } else { 0.0 };
            }
        }
        h
    }

    pub(crate) fn inverse(h: &[f64], k: usize) -> Vec<f64> {
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

    fn factor(k: usize) -> Vec<f64> {
        let mut l = spd(k);
        assert!(cholesky_lower::<f64>(
            MatMut::from_column_major_slice_mut(&mut l, k, k),
            Par::Seq
        ));
        l
    }

    #[test]
    fn trailing_diagonal_matches_full_inverse() {
        let k = 20;
        let l = factor(k);
        let g = inverse(&spd(k), k);
        let p = 6;
        let diag =
            trailing_inverse_diagonal(MatRef::from_column_major_slice(&l, k, k), p, Par::rayon(2));
        for (j, d) in diag.iter().enumerate() {
            let want = g[(k - p + j) * k + (k - p + j)];
            assert!((d - want).abs() < 1e-12 * want);
        }
    }

    #[test]
    fn blocked_solves_match_faer_and_ignore_threads() {
        use faer::linalg::triangular_solve::solve_upper_triangular_in_place;
        for k in [1, 2, 255, 256, 257, 700, 1300] {
            let mut l = factor(k);
            (0..k).for_each(|j| (0..j).for_each(|i| l[j * k + i] = 0.0));
            let lm = MatRef::from_column_major_slice(&l, k, k);
            let y: Vec<f64> = (0..k).map(|i| ((i * 37 % 11) as f64) - 5.0).collect();
            let mut want = y.clone();
            let mut c = MatMut::from_column_major_slice_mut(&mut want, k, 1);
            solve_lower_triangular_in_place(lm, c.as_mut(), Par::Seq);
            solve_upper_triangular_in_place(lm.transpose(), c, Par::Seq);
            let got = solve(lm, &y, Par::Seq);
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-12 * scale, "k={k}: {g} vs {w}");
            }
            for threads in [2, 3, 5] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let par = pool.install(|| solve(lm, &y, Par::rayon(threads)));
                assert_eq!(par, got, "k={k} threads={threads}");
            }
        }
    }

    #[test]
    fn columns_solved_together_are_the_bits_of_each_alone() {
        for (k, m) in [(1, 1), (2, 3), (257, 10), (700, 1), (1300, 4)] {
            let l = factor(k);
            let lm = MatRef::from_column_major_slice(&l, k, k);
            let y = Mat::<f64>::from_fn(k, m, |i, c| ((i * 37 + c * 11) % 13) as f64 - 6.0);
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let par = if threads == 1 {
                    Par::Seq
                } else {
                    Par::rayon(threads)
                };
                let mut together = y.clone();
                pool.install(|| solve_columns(lm, together.as_mut(), par));
                for c in 0..m {
                    let alone = solve(lm, col(y.as_ref(), c), Par::Seq);
                    assert_eq!(col(together.as_ref(), c), &alone[..], "k={k} column {c}");
                }
            }
        }
    }

    #[test]
    fn dots_are_the_bits_of_each_dot_alone() {
        fn check<E: Real>(narrow: impl Fn(f64) -> E) {
            for n in [0, 1, 7, 8, 9, 31, 64, 1001] {
                let a: Vec<E> = (0..n)
                    .map(|i| narrow(((i * 13 % 17) as f64 - 8.0) / 7.0))
                    .collect();
                let bs: Vec<Vec<f64>> = (0..9)
                    .map(|c| {
                        (0..n)
                            .map(|i| ((i * 7 + c * 5) % 11) as f64 / 3.0 - 1.5)
                            .collect()
                    })
                    .collect();
                for m in [1, 3, 4, 5, 9] {
                    let b: Vec<&[f64]> = bs[..m].iter().map(|b| &b[..]).collect();
                    let mut out = vec![0.0; m];
                    dispatch(Dots {
                        a: &a,
                        bs: &b,
                        out: &mut out,
                    });
                    for (o, b) in out.iter().zip(&b) {
                        assert_eq!(o.to_bits(), E::dot_f64(&a, b).to_bits(), "n={n} m={m}");
                    }
                }
            }
        }
        check(|v| v);
        check(|v| v as f32);
    }

    #[test]
    fn the_forward_solve_is_plain_forward_substitution_to_the_bit() {
        // Each z_i sees z_i −= L_ij z_j for j = 0, 1, … in order, then z_i /= L_ii: what the
        // textbook column-oriented loop does, whatever the blocks, chunks and columns.
        for k in [1, 300, 1100] {
            let l64 = factor(k);
            let l32: Vec<f32> = l64.iter().map(|&v| v as f32).collect();
            let y = Mat::<f64>::from_fn(k, 3, |i, c| ((i * 37 + c * 11) % 13) as f64 - 6.0);
            let plain = |l: &dyn Fn(usize, usize) -> f64| {
                let mut z = y.clone();
                for c in 0..3 {
                    for j in 0..k {
                        let zj = z[(j, c)] / l(j, j);
                        z[(j, c)] = zj;
                        for i in j + 1..k {
                            z[(i, c)] -= l(i, j) * zj;
                        }
                    }
                }
                z
            };
            let want64 = plain(&|i, j| l64[j * k + i]);
            let want32 = plain(&|i, j| f64::from(l32[j * k + i]));
            for par in [Par::Seq, Par::rayon(3)] {
                let mut z = y.clone();
                solve_lower_columns(MatRef::from_column_major_slice(&l64, k, k), z.as_mut(), par);
                assert!(z == want64, "k={k} f64");
                let mut z = y.clone();
                solve_lower_columns(MatRef::from_column_major_slice(&l32, k, k), z.as_mut(), par);
                assert!(z == want32, "k={k} f32");
            }
        }
    }

    #[test]
    fn panelled_inverse_diagonal_matches_a_whole_inverse() {
        let (k, p) = (400, 300);
        let l = factor(k);
        let lm = MatRef::from_column_major_slice(&l, k, k);
        let mut inv = Mat::<f64>::zeros(p, p);
        faer::linalg::triangular_inverse::invert_lower_triangular(
            inv.as_mut(),
            lm.submatrix(k - p, k - p, p, p),
            Par::Seq,
        );
        let got = trailing_inverse_diagonal(lm, p, Par::Seq);
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
            let par = pool.install(|| trailing_inverse_diagonal(lm, p, Par::rayon(threads)));
            assert_eq!(par, got);
        }
    }

    /// `cargo test --release inverse_panel_probe -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn inverse_panel_probe() {
        use crate::threads::with_threads;
        for (k, p) in [
            (2048usize, 1024usize),
            (3000, 1500),
            (6000, 6000),
            (8192, 4096),
        ] {
            let mut l = vec![0.0f64; k * k];
            // a random well-conditioned lower factor
            let mut s = 3u64;
            for j in 0..k {
                for i in j..k {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    l[j * k + i] = if i == j {
                        1.0
                    } else {
                        ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.02
                    };
                }
            }
            let lr = MatRef::from_column_major_slice(&l, k, k);
            for threads in [1, 2] {
                let mut line = format!("k={k} p={p} t={threads}:");
                let mut base = None;
                for w in [64usize, 128, 192, 256, 384] {
                    let mut best = f64::INFINITY;
                    for _ in 0..2 {
                        let t = std::time::Instant::now();
                        with_threads(threads, |par| inverse_diagonal_in_panels(lr, p, par, w));
                        best = best.min(t.elapsed().as_secs_f64());
                    }
                    let gf = (p as f64).powi(3) / 3.0 / best / 1e9;
                    let b = *base.get_or_insert(best);
                    line += &format!(" w{w} {best:.3}s {gf:.0}GF {:.2}x", b / best);
                }
                // faer's whole inverse, out of place
                let mut best = f64::INFINITY;
                for _ in 0..2 {
                    let t = std::time::Instant::now();
                    with_threads(threads, |par| {
                        let lss = lr.submatrix(k - p, k - p, p, p);
                        let mut inv = Mat::<f64>::zeros(p, p);
                        faer::linalg::triangular_inverse::invert_lower_triangular(
                            inv.as_mut(),
                            lss,
                            par,
                        );
                    });
                    best = best.min(t.elapsed().as_secs_f64());
                }
                line += &format!(
                    " faer-inv {best:.3}s {:.0}GF",
                    (p as f64).powi(3) / 3.0 / best / 1e9
                );
                println!("{line}");
            }
        }
    }
}
