//! Criterion benches of the three phases of a block: the Gram, the arc-cosine transform, and
//! Cholesky + leave-one-out (H in f64, and in f32 as precision "single" builds it), over k and d.
//!
//! `cargo bench --bench block` runs k ∈ {1024, 4096} in a few minutes. `CGFAST_BENCH_LARGE=1` adds
//! k = 8192 (H is 512 MiB); `CGFAST_BENCH_THREADS=n` sets the thread count (default: all CPUs).
//! Throughput is reported in flops: k²d for the Gram (one triangle), k²/2 entries for the
//! transform, k³/3 + p³/3 for Cholesky + leave-one-out with p = k/2 positives.

use std::time::Duration;

use cgfast::cholesky::cholesky_lower;
use cgfast::element::normalise_rows;
use cgfast::gram::{gram_lower, kernel_lower};
use cgfast::real::Real;
use cgfast::solve::{solve, trailing_inverse_diagonal};
use cgfast::threads::with_threads;
use cgfast::timing::NoTiming;
use cgfast::transform::transform_lower;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use faer::{MatMut, MatRef};
use ndarray::{Array2, ArrayView2};

fn sizes() -> Vec<usize> {
    let mut k = vec![1024, 4096];
    if std::env::var_os("CGFAST_BENCH_LARGE").is_some() {
        k.push(8192);
    }
    k
}

fn threads() -> usize {
    std::env::var("CGFAST_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

/// Deterministic rows in [-0.5, 0.5): no two parallel, so H is positive definite.
fn rows(k: usize, d: usize) -> Array2<f64> {
    let mut state = (k * 31 + d) as u64;
    Array2::from_shape_simple_fn((k, d), || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    })
}

/// H's lower triangle for the rows `x`, into the column-major `k x k` buffer `h`, in `E` as a
/// block of that precision builds it.
fn kernel<E: Real>(x: ArrayView2<'_, f64>, h: &mut [E], par: faer::Par) {
    let k = x.nrows();
    let unit = normalise_rows(x, par).unwrap();
    kernel_lower(
        &unit,
        MatMut::from_column_major_slice_mut(h, k, k),
        par,
        &mut NoTiming,
    )
    .unwrap()
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group
}

fn gram(c: &mut Criterion) {
    let mut group = configure(c, "gram");
    for k in sizes() {
        for d in [64, 784, 3072] {
            let x = rows(k, d);
            let mut h = vec![0.0; k * k];
            group.throughput(Throughput::Elements((k * k * d) as u64));
            group.bench_function(BenchmarkId::new(format!("f64/k{k}"), d), |b| {
                with_threads(threads(), |par| {
                    let unit = normalise_rows(x.view(), par).unwrap();
                    b.iter(|| {
                        gram_lower(
                            unit.at(),
                            MatMut::from_column_major_slice_mut(&mut h, k, k),
                            par,
                        )
                    })
                })
            });
            // Precision "single"'s H: the f32 Gram and transform, to compare with the f64 Gram
            // plus the transform bench.
            let mut h32 = vec![0.0f32; k * k];
            group.bench_function(BenchmarkId::new(format!("f32-kernel/k{k}"), d), |b| {
                with_threads(threads(), |par| b.iter(|| kernel(x.view(), &mut h32, par)))
            });
        }
    }
    group.finish();
}

fn transform(c: &mut Criterion) {
    let mut group = configure(c, "transform");
    for k in sizes() {
        let d = 64;
        let x = rows(k, d);
        let mut cosines = vec![0.0; k * k];
        let unit = with_threads(threads(), |par| normalise_rows(x.view(), par).unwrap());
        with_threads(threads(), |par| {
            gram_lower(
                unit.at(),
                MatMut::from_column_major_slice_mut(&mut cosines, k, k),
                par,
            );
        });
        group.throughput(Throughput::Elements((k * (k - 1) / 2) as u64));
        group.bench_function(BenchmarkId::from_parameter(k), |b| {
            with_threads(threads(), |par| {
                b.iter_batched_ref(
                    || cosines.clone(),
                    |h| {
                        transform_lower(
                            MatMut::from_column_major_slice_mut(h, k, k),
                            unit.as_slice(),
                            d,
                            par,
                        )
                    },
                    BatchSize::LargeInput,
                )
            })
        });
    }
    group.finish();
}

/// Cholesky + α + diag(H⁻¹) of the positives with H (`h`, `k x k`) stored and factorised in `E`.
fn factor_and_solve<E: Real>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    h: Vec<E>,
    p: usize,
) {
    let k = (h.len() as f64).sqrt() as usize;
    let y: Vec<f64> = (0..k).map(|i| if i < k - p { -1.0 } else { 1.0 }).collect();
    group.bench_function(BenchmarkId::new(name, k), |b| {
        with_threads(threads(), |par| {
            b.iter_batched_ref(
                || h.clone(),
                |l| {
                    assert!(cholesky_lower(
                        MatMut::from_column_major_slice_mut(l, k, k),
                        par
                    ));
                    let l = MatRef::from_column_major_slice(l, k, k);
                    (solve(l, &y, par), trailing_inverse_diagonal(l, p, par))
                },
                BatchSize::LargeInput,
            )
        })
    });
}

fn cholesky_loo(c: &mut Criterion) {
    let mut group = configure(c, "cholesky-loo");
    for k in sizes() {
        let (d, p) = (784, k / 2);
        let x = rows(k, d);
        let flops = (k * k * k / 3 + p * p * p / 3 + 2 * k * k) as u64;
        group.throughput(Throughput::Elements(flops));
        let mut h = vec![0.0; k * k];
        with_threads(threads(), |par| kernel(x.view(), &mut h, par));
        factor_and_solve(&mut group, "f64", h, p);
        let mut h = vec![0.0f32; k * k];
        with_threads(threads(), |par| kernel(x.view(), &mut h, par));
        factor_and_solve(&mut group, "f32", h, p);
    }
    group.finish();
}

criterion_group!(benches, gram, transform, cholesky_loo);
criterion_main!(benches);
