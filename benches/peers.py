"""cgfast against its peers, side by side in one process: per block, per phase, and end to end.

    python benches/peers.py             # full run, 5-10 min on 2 cores; writes benches/RESULTS.md
    python benches/peers.py --quick         # small sizes, a smoke test
    python benches/peers.py --threads-scan 1,2,4,8,16 --sizes 8192 --dims 784

Measures, each against a baseline timed in the same run:
- cgfast per block and per phase (GFLOP/s, and % of NumPy's float64 GEMM rate measured here);
- the best SciPy closed form on the same blocks: GEMM Gram, NumPy arc-cosine, LAPACK dpotrf +
  dpotrs, dtrtri of the trailing p x p block of L;
- a NumPy port of the authors' per-example method (JJchy/CG_score, cg_function.py: one full inverse,
  then a fresh (k-1) x (k-1) rank-one-updated inverse per example) at k <= 2000;
- issue 2's end-to-end case (two classes of 3000 rows, d = 784, default arguments) against SciPy
  doing the same two blocks;
- (--threads-scan) seconds per phase against the thread count, and whether the scores of each
  precision stay bit-identical across thread counts.

Single precision against double, per block and on real sets, is benches/precision.py.

Timings on a shared machine are noisy: every number is the best of --repeats runs.
"""

from __future__ import annotations

import os
import sys

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set on this machine for old OpenBLAS builds; they
# slow a current NumPy down. Drop both for this process only, before NumPy is imported.
_BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(v in os.environ for v in _BLAS_OVERRIDES) and "CGFAST_PEERS_KEEP_ENV" not in os.environ:
    env = {k: v for k, v in os.environ.items() if k not in _BLAS_OVERRIDES}
    env["CGFAST_PEERS_DROPPED"] = ",".join(v for v in _BLAS_OVERRIDES if v in os.environ)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg.lapack as lapack  # noqa: E402

import cgfast  # noqa: E402
from cgfast import _core  # noqa: E402

TWO_PI = 2.0 * np.pi
PHASES = ("normalise", "gram", "transform", "cholesky", "solve", "inverse")


def best_of(repeats: int, fn, *args):
    """(best seconds, last result) over `repeats` calls."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


def paired(repeats: int, first, second) -> tuple[float, float, float, object, object]:
    """Times ``first`` and ``second`` alternately, ``repeats`` pairs: (best of each, the median
    of the pairs' ratios second/first, and each one's last result). A pair runs back to back,
    so load that comes and goes on a shared machine moves both of its times alike."""
    ratios, best_a, best_b, out_a, out_b = [], float("inf"), float("inf"), None, None
    for _ in range(repeats):
        start = time.perf_counter()
        out_a = first()
        a = time.perf_counter() - start
        start = time.perf_counter()
        out_b = second()
        b = time.perf_counter() - start
        best_a, best_b = min(best_a, a), min(best_b, b)
        ratios.append(b / a)
    return best_a, best_b, float(np.median(ratios)), out_a, out_b


def rows(k: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((k, d))


def flops(k: int, d: int, p: int) -> dict[str, float]:
    """Useful flops of each phase (the Gram counts one triangle, k²d)."""
    return {
        "normalise": 3.0 * k * d,
        "gram": float(k) * k * d,
        "transform": k * (k - 1) / 2.0,  # entries, not flops
        "cholesky": k**3 / 3.0,
        "solve": 2.0 * k * k,
        "inverse": p**3 / 3.0,
    }


# --- peers -------------------------------------------------------------------------------------


def numpy_arccos_kernel(u: np.ndarray) -> np.ndarray:
    """H from the cosines ``u`` (clipped in place) with NumPy's arc-cosine, diagonal 1/2."""
    np.clip(u, -1.0, 1.0, out=u)
    h = np.arccos(u)
    np.subtract(np.pi, h, out=h)
    h *= u
    h *= 1.0 / TWO_PI
    np.fill_diagonal(h, 0.5)
    return h


def scipy_closed_form(x: np.ndarray, p: int, times: dict[str, float] | None = None) -> np.ndarray:
    """CG scores of the last p rows of x by the best closed form SciPy offers, phase by phase."""
    t = time.perf_counter
    marks = [t()]
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    marks.append(t())
    u = xn @ xn.T  # GEMM: the full k x k product
    marks.append(t())
    h = numpy_arccos_kernel(u)
    del u
    marks.append(t())
    k = len(x)
    # H is symmetric, so its transpose is the same matrix in Fortran order: LAPACK works in place.
    c, info = lapack.dpotrf(h.T, lower=1, overwrite_a=1, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotrf failed: info={info}")
    marks.append(t())
    y = np.where(np.arange(k) < k - p, -1.0, 1.0)
    alpha, info = lapack.dpotrs(c, y, lower=1)
    marks.append(t())
    inv, info = lapack.dtrtri(c[k - p :, k - p :], lower=1)
    inv = np.tril(inv)  # dpotrf(clean=0) left H's upper triangle above L, and dtrtri kept it
    diag = np.einsum("ij,ij->j", inv, inv)
    marks.append(t())
    if times is not None:
        for name, a, b in zip(PHASES, marks, marks[1:]):
            times[name] = b - a
        times["total"] = marks[-1] - marks[0]
    return alpha[k - p :] ** 2 / diag


def authors_method(x: np.ndarray, p: int, examples: int) -> tuple[np.ndarray, float, float]:
    """NumPy port of the authors' loop (positives first, as in their code).

    Returns the scores of the first `examples` positives, the seconds spent before the loop
    (Gram, transform, full inverse) and the seconds per example of the loop.
    """
    start = time.perf_counter()
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    h_inner = xn @ xn.T
    h = h_inner * (np.pi - np.arccos(np.clip(h_inner, -1.0, 1.0))) / TWO_PI
    del h_inner
    np.fill_diagonal(h, 0.5)
    inv_h = np.linalg.inv(h)
    del h
    k = len(x)
    y = np.where(np.arange(k) < p, 1.0, -1.0)
    original_error = y @ (inv_h @ y)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    scores = []
    for i in range(examples):
        a_with_row = np.concatenate((inv_h[:, :i], inv_h[:, i + 1 :]), axis=1)
        a = np.concatenate((a_with_row[:i, :], a_with_row[i + 1 :, :]), axis=0)
        b = a_with_row[i, :][None, :]
        del a_with_row
        dii = inv_h[i, i]
        inv_h_mi = a - (b.T @ b) / dii
        y_mi = np.concatenate((y[:i], y[i + 1 :]))
        scores.append(original_error - y_mi @ (inv_h_mi @ y_mi))
        del a, b, inv_h_mi
    per_example = (time.perf_counter() - start) / max(examples, 1)
    return np.array(scores), setup, per_example


def gemm_rate(repeats: int) -> float:
    """NumPy float64 GEMM rate (GFLOP/s), best over a few square-ish products."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4096, 1024))
    b = rng.standard_normal((1024, 4096))
    seconds, _ = best_of(repeats + 1, np.matmul, a, b)
    return 2.0 * 4096 * 1024 * 4096 / seconds / 1e9


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# --- sections ----------------------------------------------------------------------------------


def blocks_section(args, gemm: float, out: list[str]) -> None:
    out.append("## Per block (p = k/2 positives, threads = %s)\n" % (args.threads or "all"))
    out.append(
        "Phase rates in GFLOP/s of useful work (Gram: k²d, one triangle; Cholesky: k³/3; "
        "inverse: p³/3), and as % of NumPy's float64 GEMM rate measured in this run "
        f"({gemm:.1f} GFLOP/s). Transform: ns per entry and its share of the block.\n"
    )
    out.append(
        "| k | d | cgfast s | SciPy s | SciPy/cgfast | Gram GF/s (%GEMM) | Gram vs NumPy GEMM Gram "
        "| transform ns/entry (% block) | Cholesky GF/s (%GEMM) | Cholesky vs dpotrf "
        "| solve+inverse s | max rel diff |"
    )
    out.append("|" + "---|" * 12)
    for k in args.sizes:
        for d in args.dims:
            p = k // 2
            x = rows(k, d, seed=k + d)
            cg_t, cg_ph = float("inf"), {}
            for _ in range(args.repeats):
                terms, _, _, ph = _core.profile_block_f64(x, p, args.threads)
                score = terms[0]
                if ph["total"] < cg_t:
                    cg_t, cg_ph = ph["total"], ph
            sp_t, sp_ph = float("inf"), {}
            for _ in range(args.repeats):
                ph = {}
                ref = scipy_closed_form(x, p, ph)
                if ph["total"] < sp_t:
                    sp_t, sp_ph = ph["total"], ph
            f = flops(k, d, p)
            gram_gf = f["gram"] / cg_ph["gram"] / 1e9
            chol_gf = f["cholesky"] / cg_ph["cholesky"] / 1e9
            out.append(
                f"| {k} | {d} | {cg_t:.3f} | {sp_t:.3f} | **{sp_t / cg_t:.2f}x** "
                f"| {gram_gf:.1f} ({100 * gram_gf / gemm:.0f}%) "
                f"| {sp_ph['gram'] / cg_ph['gram']:.2f}x "
                f"| {1e9 * cg_ph['transform'] / f['transform']:.2f} "
                f"({100 * cg_ph['transform'] / cg_t:.1f}%) "
                f"| {chol_gf:.1f} ({100 * chol_gf / gemm:.0f}%) "
                f"| {sp_ph['cholesky'] / cg_ph['cholesky']:.2f}x "
                f"| {cg_ph['solve'] + cg_ph['inverse']:.3f} | {max_rel(score, ref):.1e} |"
            )
            print(out[-1], flush=True)
            args.phase_rows.append((k, d, cg_ph, sp_ph))
    out.append("")
    out.append("Seconds per phase (cgfast / SciPy):\n")
    out.append("| k | d | " + " | ".join(PHASES) + " |")
    out.append("|" + "---|" * (2 + len(PHASES)))
    for k, d, cg_ph, sp_ph in args.phase_rows:
        cells = " | ".join(f"{cg_ph[n]:.3f} / {sp_ph[n]:.3f}" for n in PHASES)
        out.append(f"| {k} | {d} | {cells} |")
    out.append("")


def authors_section(args, out: list[str]) -> None:
    k, d = args.authors_k, 784
    p = k // 2
    x = rows(k, d, seed=7)
    examples = min(args.authors_examples or p, p)
    theirs, setup, per_example = authors_method(x, p, examples)
    authors_total = setup + per_example * p
    # cgfast puts the positives last: same block, rows reordered.
    xb = np.concatenate([x[p:], x[:p]])
    cg_t, (terms, *_) = best_of(args.repeats, _core.score_block_f64, xb, p, args.threads)
    score = terms[0]
    sp_t, _ = best_of(args.repeats, scipy_closed_form, xb, p)
    start = len(out)
    note = "" if examples == p else f" (loop timed on {examples} of {p} examples, extrapolated)"
    out.append(f"## The authors' per-example method, k = {k}, d = {d}, p = {p}\n")
    out.append("| method | seconds | cgfast is faster by |")
    out.append("|---|---|---|")
    out.append(
        f"| authors' method (NumPy port){note} | {authors_total:.2f} "
        f"| **{authors_total / cg_t:.0f}x** |"
    )
    out.append(f"| SciPy closed form | {sp_t:.3f} | {sp_t / cg_t:.2f}x |")
    out.append(f"| cgfast | {cg_t:.4f} | 1x |")
    out.append(
        f"\nScores agree: max relative difference {max_rel(score[:examples], theirs):.1e} "
        f"over the {examples} examples the loop scored.\n"
    )
    print("\n".join(out[start:]), flush=True)


def scipy_one_block(x: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """CG scores of every row of one block with labels ``signs`` (±1), by SciPy's closed form:
    one factorisation, α from it, and diag(H⁻¹) of every row from the inverse of the factor."""
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    u = xn @ xn.T
    h = numpy_arccos_kernel(u)
    del u
    c, info = lapack.dpotrf(h.T, lower=1, overwrite_a=1, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotrf failed: info={info}")
    alpha, info = lapack.dpotrs(c, signs, lower=1)
    inv, info = lapack.dtrtri(c, lower=1)
    inv = np.tril(inv)
    return alpha**2 / np.einsum("ij,ij->j", inv, inv)


def two_class_section(args, out: list[str]) -> None:
    """Two classes of Fashion-MNIST (T-shirt/top against shirt), one block per class.

    At ratio 1 with equal counts both classes' blocks hold all the rows: cgfast factorises them
    once and solves both labellings; SciPy's closed form does the one block once too.
    """
    from datasets import fashion_mnist as load_fashion

    n = args.e2e_rows
    X, y = load_fashion()
    rows = np.concatenate([np.flatnonzero(y == 0)[:n], np.flatnonzero(y == 6)[:n]])
    x, labels = np.ascontiguousarray(X[rows], dtype=np.float64), y[rows]
    signs = np.where(labels == 6, 1.0, -1.0)
    threads = args.threads or None
    cg_t, sp_t, ratio, cg_scores, sp_scores = paired(
        args.repeats,
        lambda: cgfast.score(x, labels, max_block=2 * n, n_jobs=threads),
        lambda: scipy_one_block(x, signs),
    )
    start = len(out)
    out.append(
        f"## Two classes: {n} T-shirts/tops against {n} shirts (Fashion-MNIST), d = 784, "
        "one block per class\n"
    )
    out.append(
        f"`cgfast.score(X, y, max_block={2 * n})`: both classes' blocks hold all {2 * n} rows, "
        "so they are factorised once; SciPy's closed form factorises the one block once.\n"
    )
    out.append(
        f"Best of {args.repeats} runs each, alternating; the ratio is the median of the "
        f"{args.repeats} back-to-back pairs' ratios (the ratio of the best times: "
        f"{sp_t / cg_t:.2f}x).\n"
    )
    out.append("| | seconds | ratio |")
    out.append("|---|---|---|")
    out.append(f"| SciPy closed form, the one block | {sp_t:.3f} | |")
    out.append(f"| cgfast.score | {cg_t:.3f} | **{ratio:.2f}x faster** |")
    out.append(f"\nMax relative difference of the scores: {max_rel(cg_scores, sp_scores):.1e}\n")
    print("\n".join(out[start:]), flush=True)


def threads_section(args, out: list[str]) -> None:
    counts = args.threads_scan
    out.append("## Threads: seconds per phase (p = k/2), parallel efficiency t1 / (n * tn)\n")
    for k in args.sizes:
        for d in args.dims:
            x = rows(k, d, seed=k + d)
            res = {}
            for n in counts:
                best = None
                for _ in range(args.repeats):
                    *_, ph = _core.profile_block_f64(x, k // 2, n)
                    if best is None or ph["total"] < best["total"]:
                        best = ph
                res[n] = best
            names = (*PHASES, "total")
            out.append(f"k = {k}, d = {d}:\n")
            out.append("| threads | " + " | ".join(names) + " |")
            out.append("|" + "---|" * (1 + len(names)))
            base = res[counts[0]]
            for n in counts:
                cells = " | ".join(
                    f"{res[n][m]:.3f} ({100 * base[m] * counts[0] / (n * res[n][m]):.0f}%)"
                    for m in names
                )
                out.append(f"| {n} | {cells} |")
            out.append("")
            print("\n".join(out[-len(counts) - 3 :]), flush=True)
    k, d = 3001, 97
    x = rows(k, d, seed=11)
    ok = []
    for precision in ("double", "single"):
        ref = _core.score_block_f64(x, 1400, counts[0], precision)[0]
        same = all(
            np.array_equal(ref, _core.score_block_f64(x, 1400, n, precision)[0])
            for n in range(1, max(counts) + 1)
        )
        ok.append(f"{precision}: {'bit-identical' if same else 'DIFFERENT'}")
    out.append(f"Scores at k = {k} for threads 1..{max(counts)}: " + "; ".join(ok) + "\n")
    print(out[-1], flush=True)


def machine(gemm: float, pages: str) -> list[str]:
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')} kernel, "
        f"{i.get('num_threads')} threads) from {Path(i.get('filepath', '')).parent.name}"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    dropped = os.environ.get("CGFAST_PEERS_DROPPED")
    return [
        f"- CPU: {cpu}; {len(os.sched_getaffinity(0))} CPUs usable; load average at start "
        f"{os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}",
        "- BLAS: " + "; ".join(blas),
        f"- NumPy float64 GEMM rate measured in this run: {gemm:.1f} GFLOP/s",
        f"- Unset for this run: {dropped}"
        if dropped
        else "- OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: not set",
        f"- {pages}",
    ]


def small_pages_for_numpy() -> str:
    """Stops NumPy asking for transparent huge pages for its large arrays; says what it did.

    NumPy madvises every large allocation for huge pages. On a machine whose memory is
    fragmented the kernel then compacts memory on the first touch of each array: this
    machine's SciPy closed form of a 6000-row block took 5.7–5.8 s that way against 4.2–4.5 s
    with ordinary pages. cgfast's own buffers use ordinary pages; so that the baseline runs at
    its best, NumPy does too.
    """
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1
        from numpy.core import multiarray
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is None:
        return "NumPy huge-page advice: not switchable in this NumPy"
    setter(False)
    return "NumPy huge-page advice: off (the SciPy baselines' faster setting here)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    parser.add_argument("--sizes", type=ints, default=[2000, 4096, 8192], help="block sizes k")
    parser.add_argument("--dims", type=ints, default=[784, 3072], help="feature counts d")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--threads", type=int, default=0, help="0 = every CPU this process may use")
    parser.add_argument(
        "--authors-k", type=int, default=2000, help="block size for the authors' method"
    )
    parser.add_argument(
        "--authors-examples",
        type=int,
        default=0,
        help="examples the authors' loop scores (0 = all)",
    )
    parser.add_argument("--e2e-rows", type=int, default=3000, help="rows per class, end to end")
    parser.add_argument(
        "--threads-scan", type=ints, default=None, help="only the thread-scaling table"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--two-class-only", action="store_true", help="only the two-class table")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()
    pages = small_pages_for_numpy()  # before anything is timed
    if args.quick:
        args.sizes, args.dims, args.repeats = [1024], [64, 784], 1
        args.authors_k, args.authors_examples, args.e2e_rows = 600, 20, 500
    args.phase_rows = []
    if not (0 < args.authors_k <= 2000):
        parser.error("--authors-k must be in 1..2000: the authors' method is O(p k²)")

    gemm = gemm_rate(args.repeats)
    out = ["# cgfast benchmark results", "", "Command: `python " + " ".join(sys.argv) + "`", ""]
    out += machine(gemm, pages) + [""]
    print("\n".join(out), flush=True)
    if args.threads_scan:
        threads_section(args, out)
    elif args.two_class_only:
        two_class_section(args, out)
    else:
        blocks_section(args, gemm, out)
        authors_section(args, out)
        two_class_section(args, out)
    args.output.write_text("\n".join(out) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
