//! H = L Lᵀ in place, in the block's storage type, with a ridge added when H is numerically
//! singular and the type takes one.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::{MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::error::CoreError;
use crate::real::Real;
use crate::timing::{Phase, Recorder};
use crate::views::{col, col_mut};

/// The first ridge tried, relative to mean(diag H), once H is singular: it lifts the pivot of an
/// exact duplicate to at least itself, above f64's [`Real::SINGULAR_PIVOT`].
pub const FIRST_RIDGE: f64 = 1e-9;
/// The largest ridge tried, relative to mean(diag H), before giving up.
pub const MAX_RIDGE: f64 = 1e-6;

fn mean_diag<E: Real>(h: MatRef<'_, E>) -> f64 {
    let k = h.nrows();
    (0..k).map(|j| col(h, j)[j].to_f64()).sum::<f64>() / k as f64
}

/// The least pivot L_ii² a factorisation of the `k x k` H in `E` may have: `E::SINGULAR_PIVOT`
/// (or `k · ε`, if larger) times mean(diag H).
fn pivot_floor<E: Real>(h: MatRef<'_, E>) -> f64 {
    E::SINGULAR_PIVOT.max(h.nrows() as f64 * E::EPS) * mean_diag(h)
}

/// Whether two rows of H (its lower triangle) alone give a pivot at or below `floor`: for rows
/// i > j, H_ii − H_ij² / H_jj, the pivot of row i after row j. Eliminating more rows only lowers
/// a pivot, so the whole factorisation would then fail too; this costs k²/2 comparisons where
/// the factorisation costs k³/3.
fn pair_below<E: Real>(h: MatRef<'_, E>, floor: f64, par: Par) -> bool {
    let k = h.nrows();
    let column = |j: usize| {
        let c = col(h, j);
        let hjj = c[j].to_f64();
        c[j + 1..].iter().enumerate().any(|(i, v)| {
            let hij = v.to_f64();
            let hii = col(h, j + 1 + i)[j + 1 + i].to_f64();
            hij * hij >= (hii - floor) * hjj
        })
    };
    match par {
        Par::Seq => (0..k).any(column),
        _ => (0..k).into_par_iter().with_min_len(64).any(column),
    }
}

/// Factors the lower triangle of the `k x k` view `h` in place, in `E`'s arithmetic. False when a
/// pivot L_ii² falls below `E::SINGULAR_PIVOT` (or `k · ε`) times mean(diag H): on failure `h`
/// holds garbage.
pub fn cholesky_lower<E: Real>(mut h: MatMut<'_, E>, par: Par) -> bool {
    let k = h.nrows();
    let floor = pivot_floor(h.as_ref());
    let mut buf = MemBuffer::new(cholesky_in_place_scratch::<E>(k, par, Default::default()));
    let ok = cholesky_in_place(
        h.as_mut(),
        Default::default(),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .is_ok();
    ok && {
        (0..k).all(|j| {
            let pivot = col(h.as_ref(), j)[j].to_f64();
            pivot.is_finite() && pivot * pivot > floor
        })
    }
}

/// Factors H = L Lᵀ in place, adding a ridge when H is numerically singular.
///
/// `build` writes the lower triangle of H into the view; it is called again before each ridge
/// retry, since a failed factorisation destroys H. `accept` sees the factor and may reject it
/// (for example when a quantity derived from it is not finite), which moves to the next ridge.
/// Both get the recorder, to time their own phases. Returns the relative ridge used (0 when none).
///
/// A type that takes no ridge ([`Real::RIDGES`], f32) stops at the first failure with
/// [`CoreError::Unresolved`]: the block is one for float64.
pub fn factor_with_ridge<E: Real, R: Recorder>(
    h: MatMut<'_, E>,
    par: Par,
    build: impl FnMut(MatMut<'_, E>, &mut R) -> Result<(), CoreError>,
    accept: impl FnMut(MatRef<'_, E>, &mut R) -> bool,
    rec: &mut R,
) -> Result<f64, CoreError> {
    factor_shifted(h, par, 0.0, build, accept, rec)
}

/// [`factor_with_ridge`] of `H + shift · mean(diag H) · I`: the kernel ridge regressor's matrix
/// when `shift > 0`. The shift is part of the matrix asked for, in every precision; the ridge
/// returned is only what was added to it because the shifted matrix could not be factorised.
pub fn factor_shifted<E: Real, R: Recorder>(
    mut h: MatMut<'_, E>,
    par: Par,
    shift: f64,
    mut build: impl FnMut(MatMut<'_, E>, &mut R) -> Result<(), CoreError>,
    mut accept: impl FnMut(MatRef<'_, E>, &mut R) -> bool,
    rec: &mut R,
) -> Result<f64, CoreError> {
    let k = h.nrows();
    build(h.as_mut(), rec)?;
    let scale = mean_diag(h.as_ref());
    let mut ridge = 0.0;
    loop {
        if ridge > 0.0 {
            build(h.as_mut(), rec)?; // a retry: the failed factorisation destroyed H
        }
        if shift + ridge > 0.0 {
            let add = (shift + ridge) * scale;
            (0..k).for_each(|j| {
                let d = &mut col_mut(h.as_mut(), j)[j];
                *d = E::narrow(d.to_f64() + add);
            });
        }
        // A type without a ridge gives up on a near-duplicate pair before factorising: the
        // factorisation would fail at that pair's pivot, after most of its flops.
        if !E::RIDGES
            && rec.time(Phase::Cholesky, || {
                pair_below(h.as_ref(), pivot_floor(h.as_ref()), par)
            })
        {
            return Err(CoreError::Unresolved);
        }
        let factored = rec.time(Phase::Cholesky, || cholesky_lower(h.as_mut(), par));
        if factored && accept(h.as_ref(), rec) {
            return Ok(ridge);
        }
        if !E::RIDGES {
            return Err(CoreError::Unresolved);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::with_threads;

    #[test]
    fn a_pair_below_the_floor_is_one_the_factorisation_fails_on() {
        // Rows 0 and 1 of a block ever closer: in f32 the pair check must never stop a block
        // the factorisation would have taken, and the factorisation must take every block the
        // check lets through.
        let (k, d) = (400, 6);
        let gaps = [1e-6, 1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2];
        let mut seen = Vec::new();
        for gap in gaps {
            let mut x = crate::gram::tests::sample(k, d, 7);
            for c in 0..d {
                x[d + c] = x[c] + gap * if c % 2 == 0 { 1.0 } else { -1.0 };
            }
            let lower = with_threads(2, |par| crate::gram::tests::kernel_of(&x, k, d, par));
            let mut h: Vec<f32> = lower.iter().map(|&v| v as f32).collect();
            let view = MatRef::from_column_major_slice(&h, k, k);
            let below = with_threads(2, |par| pair_below(view, pivot_floor(view), par));
            seen.push(below);
            assert_eq!(
                with_threads(1, |par| pair_below(view, pivot_floor(view), par)),
                below
            );
            let factored = with_threads(2, |par| {
                cholesky_lower(MatMut::from_column_major_slice_mut(&mut h, k, k), par)
            });
            assert!(
                !(below && factored),
                "gap {gap:e}: the check stopped a block f32 factorises"
            );
            assert!(
                below || factored,
                "gap {gap:e}: f32 failed where no pair was caught"
            );
        }
        // Caught at the smallest gaps, not at the largest, and never again once let through.
        assert!(seen[0] && !seen[gaps.len() - 1], "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0] || !w[1]), "{seen:?}");
    }

    /// A well-conditioned SPD matrix, column-major: B Bᵀ / m + I for a pseudo-random B (n x m).
    fn spd(n: usize, seed: u64) -> Vec<f64> {
        let m = 48;
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let b: Vec<f64> = (0..n * m)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect();
        let mut a = vec![0.0; n * n];
        for j in 0..n {
            for i in j..n {
                let v: f64 = (0..m).map(|c| b[i * m + c] * b[j * m + c]).sum::<f64>() / m as f64;
                a[j * n + i] = v + if i == j { 1.0 } else { 0.0 };
                a[i * n + j] = a[j * n + i];
            }
        }
        a
    }

    fn factor(a: &[f64], n: usize, threads: usize) -> Vec<f64> {
        let mut l = a.to_vec();
        let ok = with_threads(threads, |par| {
            cholesky_lower(MatMut::from_column_major_slice_mut(&mut l, n, n), par)
        });
        assert!(ok, "n={n}: factorisation failed");
        l
    }

    #[test]
    fn factor_reproduces_the_matrix() {
        for n in [1, 7, 300, 1025] {
            let a = spd(n, n as u64);
            let l = factor(&a, n, 2);
            let mut worst = 0.0f64;
            for j in 0..n {
                for i in j..n {
                    let llt: f64 = (0..=j).map(|c| l[c * n + i] * l[c * n + j]).sum();
                    worst = worst.max((llt - a[j * n + i]).abs());
                }
            }
            assert!(worst < 1e-12, "n={n}: max |L Lᵀ − A| = {worst:e}");
        }
    }

    #[test]
    fn factor_is_the_same_on_any_thread_count() {
        let n = 1500;
        let a = spd(n, 3);
        let one = factor(&a, n, 1);
        for threads in [2, 3, 4] {
            let many = factor(&a, n, threads);
            for j in 0..n {
                for i in j..n {
                    assert_eq!(
                        one[j * n + i].to_bits(),
                        many[j * n + i].to_bits(),
                        "({i},{j}) differs on {threads} threads"
                    );
                }
            }
        }
    }

    #[test]
    fn a_matrix_with_two_equal_rows_fails() {
        let n = 700;
        let mut a = spd(n, 9);
        // Row and column n − 5 copy row and column 3: rank-deficient in the trailing half.
        let (r, c) = (n - 5, 3);
        for i in 0..n {
            a[r * n + i] = a[c * n + i];
        }
        for j in 0..n {
            a[j * n + r] = a[j * n + c];
        }
        a[r * n + r] = a[c * n + c];
        let mut l = a.clone();
        let ok = cholesky_lower(MatMut::from_column_major_slice_mut(&mut l, n, n), Par::Seq);
        assert!(!ok, "a matrix with two equal rows was factorised");
    }

    /// `cargo test --release cholesky_stride -- --ignored --nocapture`: the factorisation with
    /// the column stride equal to n against one padded by 8, seconds, on 1 and 2 threads.
    #[test]
    #[ignore]
    fn cholesky_stride() {
        for n in [1024, 1500, 2048, 3000, 4096, 6000, 8192] {
            let a = spd(n, 1);
            for threads in [1, 2] {
                let time = |stride: usize| {
                    let mut best = f64::INFINITY;
                    for _ in 0..3 {
                        let mut l = vec![0.0; stride * n];
                        for j in 0..n {
                            l[j * stride..j * stride + n].copy_from_slice(&a[j * n..(j + 1) * n]);
                        }
                        let t = std::time::Instant::now();
                        with_threads(threads, |par| {
                            let h = MatMut::from_column_major_slice_with_stride_mut(
                                &mut l, n, n, stride,
                            );
                            assert!(cholesky_lower(h, par))
                        });
                        best = best.min(t.elapsed().as_secs_f64());
                    }
                    best
                };
                let (plain, padded) = (time(n), time(n + 8));
                let gf = |s: f64| (n as f64).powi(3) / 3.0 / s / 1e9;
                println!(
                    "n={n} threads={threads}: stride n {plain:.3} s ({:.1} GF/s), n + 8 \
                     {padded:.3} s ({:.1} GF/s), {:.2}x",
                    gf(plain),
                    gf(padded),
                    plain / padded
                );
            }
        }
    }
}
