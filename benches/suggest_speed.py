"""The suggestion pass against scoring alone on Fashion-MNIST: ratio of times and GFLOP/s.

In one process, ``--rounds`` rounds, each running in turn (the order reversed every other round,
so that load which comes and goes on a shared machine moves them alike):

- the machine's GEMM: NumPy float32 and float64 products of two 2048 x 2048 matrices on the
  threads cgfast uses (best of three), the ceiling to measure a rate against;
- ``cgfast.score(X, y)`` alone (the defaults: repeats "auto", precision "single");
- ``cgfast.score(X, y, suggest=True)``, its suggestion pass (``engine.run_suggestions``, the
  blocks after scoring) timed on its own.

Reported per round and as the median of the rounds: ``score(suggest=True)`` over ``score`` alone,
and the GFLOP/s of the scoring run and of the suggestion pass, each also as a share of the same
round's float32 GEMM rate. The flops are those done: a scored block's factorisation, k³/3 +
p³/3 for p positives, and its Gram k²d where it builds its H from its rows; a suggestion block
that fits f rows and predicts q others, its Cholesky f³/3, the solves and product of every class
(2f(f + q) per class) and its kernel values f(f + 2q)d where it builds them; the n x n kernel's
n²d where a run builds it to copy its blocks' values out of it. The progress bar counts every
block's Gram, copied or not: its rates are reported beside.

``--agreement`` adds a check of precision "single" against "double" on the same images with
``--noise`` of the labels flipped at random: suggested labels, label quality and the flags of
``cgfast.find_label_issues`` (the default rule) from each.

    python benches/suggest_speed.py                                   # 10,000 images
    python benches/suggest_speed.py --per-class 6000 --rounds 1       # all 60,000
    python benches/suggest_speed.py --agreement --output benches/RESULTS-suggest-speed.md
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from datasets import fashion_mnist, flip_labels  # noqa: E402

import cgfast  # noqa: E402
from cgfast import engine  # noqa: E402
from cgfast._threads import resolve_threads  # noqa: E402
from cgfast.options import Options  # noqa: E402

GEMM_SIZE = 2048


def machine() -> str:
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        info = ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    name = fields.get("Model name", platform.processor() or "unknown CPU").strip()
    return f"{name}, {len(os.sched_getaffinity(0))} CPUs usable by this process"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).parent)  # fmt: skip
    return out.stdout.strip() or "?"


def gemm_rates(threads: int) -> tuple[float, float]:
    """GFLOP/s of NumPy's float32 and float64 GEMM (2n³ flops), best of three each."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    rates = []
    with threadpool_limits(threads):
        for dtype in (np.float32, np.float64):
            a, b = (rng.random((GEMM_SIZE, GEMM_SIZE)).astype(dtype) for _ in range(2))
            best = np.inf
            for _ in range(3):
                start = time.perf_counter()
                a @ b
                best = min(best, time.perf_counter() - start)
            rates.append(2 * GEMM_SIZE**3 / best / 1e9)
    return rates[0], rates[1]


def work(run: engine.Run, repeats: int, copied: bool, built: bool) -> tuple[int, int]:
    """Flops of the first ``repeats`` repeats of ``run``: as the progress bar counts them (every
    block's Gram k²d, copied or not), and as done (the n x n kernel's Gram n²d once where the
    run built it, no Gram for blocks copied out of a kernel)."""
    blocks = [run.blocks[i] for i in range(repeats * run.per_repeat)]
    bar = sum(run.work(block) for block in blocks)
    n, d = run.rows.n, run.rows.d
    if run.predicts:
        done = sum(suggestion_flops(block, d, len(run.classes), copied) for block in blocks)
        return bar, done + (n * n * d if built else 0)
    grams = 0 if copied else sum(block.size**2 * d for block in blocks)
    done = sum(block.flops for block in blocks) + grams + (n * n * d if built else 0)
    return bar, done


def suggestion_flops(block, d: int, classes: int, copied: bool) -> int:
    """Flops a suggestion block does: one that fits f rows and predicts q others factorises
    (f³/3), solves every class (2f²·classes), multiplies (2qf·classes) and, unless its kernel
    values are copied out of a kept kernel, builds them: its H's triangle (f²d) and the q x f
    rectangle (2qfd); a leave-one-out block of k rows does its Cholesky and diag(H⁻¹) (2k³/3)
    and its Gram (k²d)."""
    if not len(block.negatives):
        k = len(block.positives)
        return (2 * k**3) // 3 + (0 if copied else k * k * d)
    f, q = len(block.negatives), len(block.positives)
    return f**3 // 3 + 2 * f * (f + q) * classes + (0 if copied else f * (f + 2 * q) * d)


class Spy:
    """Watches one call of ``cgfast.score``: how long its suggestion pass
    (``engine.run_suggestions``) took and which run it was, and whether the scoring run and
    the suggestion run (keys False, True: ``run.predicts``) built the n x n kernel or copied
    their blocks' H out of one (``LocalExecutor.kernel``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.run: engine.Run | None = None
        self.built = {False: False, True: False}
        self.copied = {False: False, True: False}
        self._originals = (engine.run_suggestions, engine.LocalExecutor.kernel)

    def __enter__(self) -> Spy:
        run_suggestions, kernel = self._originals

        def timed(run, executor, **kwargs):
            start = time.perf_counter()
            try:
                return run_suggestions(run, executor, **kwargs)
            finally:
                self.seconds = time.perf_counter() - start
                self.run = run

        def watched(executor, run, tasks):
            before = executor._kernel
            out = kernel(executor, run, tasks)
            if out is not None:
                self.copied[run.predicts] = True
                self.built[run.predicts] |= before is None or before[1] is not out
            return out

        engine.run_suggestions = timed
        engine.LocalExecutor.kernel = watched
        return self

    def __exit__(self, *exc) -> None:
        engine.run_suggestions, engine.LocalExecutor.kernel = self._originals


def median(values) -> float:
    return float(np.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=1000, help="images of each class")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--agreement", action="store_true", help="single against double")
    parser.add_argument("--noise", type=float, default=0.2, help="flipped share (--agreement)")
    parser.add_argument("--output", type=Path, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    started = datetime.now(timezone.utc)
    load_start = os.getloadavg()[0]
    X, y = fashion_mnist(per_class=args.per_class)
    n, d = X.shape
    threads = resolve_threads(None)
    plan = engine.prepare(X, y, Options())
    print(f"Fashion-MNIST, {n} images; {machine()}; {threads} threads", file=sys.stderr)

    def score():
        with Spy() as spy:
            return cgfast.score(X, y, return_terms=True), spy

    def both():
        with Spy() as spy:
            return cgfast.score(X, y, suggest=True), spy

    rows = []
    for round_ in range(args.rounds):
        steps = [("gemm", lambda: gemm_rates(threads)), ("score", score), ("both", both)]
        done = {}
        for name, step in steps if round_ % 2 == 0 else steps[::-1]:
            start = time.perf_counter()
            done[name] = (step(), time.perf_counter() - start)
            print(f"  round {round_ + 1}: {name} {done[name][1]:.1f} s", file=sys.stderr,
                  flush=True)  # fmt: skip
        (f32, f64), _ = done["gemm"]
        (terms, alone), score_s = done["score"]
        (together, spy), both_s = done["both"]
        assert np.array_equal(terms.score, together.score)
        suggesting = spy.run
        score_bar, score_done = work(plan, terms.repeats, alone.copied[False], alone.built[False])
        pass_bar, pass_done = work(suggesting, suggesting.options.planned_repeats,
                                   spy.copied[True], spy.built[True])  # fmt: skip
        rows.append({
            "f32": f32, "f64": f64, "score_s": score_s, "both_s": both_s,
            "ratio": both_s / score_s, "repeats": terms.repeats, "pass_s": spy.seconds,
            "score_rate": score_done / score_s / 1e9, "score_bar": score_bar / score_s / 1e9,
            "pass_rate": pass_done / spy.seconds / 1e9, "pass_bar": pass_bar / spy.seconds / 1e9,
            "score_flops": score_done, "pass_flops": pass_done,
            "score_kernel": alone.built[False], "pass_kernel": spy.copied[True],
            "blocks": len(suggesting.blocks),
            "block": max(len(b.negatives) or b.size for b in suggesting.blocks),
            "pass_repeats": suggesting.options.planned_repeats,
        })  # fmt: skip
    load_end = os.getloadavg()[0]

    lines = [
        f"# The suggestion pass against scoring alone, {n} images",
        "",
        f"Command: `{' '.join(['python benches/suggest_speed.py', *sys.argv[1:]])}`",
        "",
        f"Fashion-MNIST, first {args.per_class} training images of each class ({n} rows, {d} "
        f'features), `cgfast.score` defaults (repeats "auto", precision "single"), seed 0.',
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC; load average {load_start:.2f} at the start, "
        f"{load_end:.2f} at the end (a shared machine: other work ran beside it)",
        f"- Machine: {machine()}; cgfast on {threads} threads",
        f"- cgfast {cgfast.__version__} (git {commit()}), Python {platform.python_version()}, "
        f"NumPy {np.__version__}",
        "",
        "Each round runs the GEMM, `score(X, y)` and `score(X, y, suggest=True)` in turn, the "
        "order reversed every other round; the suggestion pass is the part of "
        "`score(suggest=True)` after scoring. GFLOP/s are of the arithmetic done: a scored "
        "block's factorisation (k³/3 + p³/3 for p positives) and its Gram k²d where it builds "
        "its H from its rows; a suggestion block that fits f rows and predicts q others, its "
        "Cholesky f³/3, the solves and product of every class (2f(f + q) each) and its kernel "
        "values f(f + 2q)d where it builds them; the kernel's n²d where a run builds the n x n "
        "kernel and copies its blocks' values out of it; in brackets, the share of the same "
        f"round's float32 GEMM rate ({GEMM_SIZE} x {GEMM_SIZE}, NumPy, on the same threads). "
        "The progress bar counts every block's Gram, copied or not: its rates are in the last "
        "columns.",
        "",
        "| round | GEMM f32 / f64 GFLOP/s | `score` s (repeats) | `score` GFLOP/s "
        "| `suggest=True` s | ratio | suggestion pass s | pass GFLOP/s | pass / scoring rate "
        "| bar's rates, scoring / pass |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(
            f"| {i} | {r['f32']:.1f} / {r['f64']:.1f} | {r['score_s']:.1f} ({r['repeats']}) | "
            f"{r['score_rate']:.1f} ({r['score_rate'] / r['f32']:.0%}) | {r['both_s']:.1f} | "
            f"{r['ratio']:.2f}x | {r['pass_s']:.1f} | {r['pass_rate']:.1f} "
            f"({r['pass_rate'] / r['f32']:.0%}) | {r['pass_rate'] / r['score_rate']:.2f} | "
            f"{r['score_bar']:.1f} / {r['pass_bar']:.1f} |"
        )
    med = {key: median([r[key] for r in rows]) for key in rows[0]}
    share = median([r["pass_rate"] / r["score_rate"] for r in rows])
    bar_share = median([r["pass_bar"] / r["score_bar"] for r in rows])
    last = rows[-1]
    copied = "copied out of the kernel the scoring run kept"
    lines += [
        "",
        f"Median of {len(rows)} round(s): `score(suggest=True)` takes **{med['ratio']:.2f}x** "
        f"`score` alone; the suggestion pass does **{med['pass_rate']:.1f} GFLOP/s**, "
        f"{share:.2f}x the scoring run's {med['score_rate']:.1f} (float32 GEMM "
        f"{med['f32']:.1f}); by the progress bar's count {med['pass_bar']:.1f} against "
        f"{med['score_bar']:.1f} GFLOP/s ({bar_share:.2f}x).",
        "",
        f"Work of the last round: scoring {last['score_flops'] / 1e9:.0f} GFLOP "
        f"({last['repeats']} repeats, "
        + ("the kernel built" if last["score_kernel"] else "no kernel")
        + f"); the suggestion pass {last['pass_flops'] / 1e9:.0f} GFLOP ({last['blocks']} "
        f"blocks fitting up to {last['block']} rows, {last['pass_repeats']} partition(s), their "
        "kernel values "
        + (copied if last["pass_kernel"] else "built from their rows")
        + f"): {last['pass_flops'] / last['score_flops']:.2f}x the scoring run's, so that at "
        f"equal rates `score(suggest=True)` would take "
        f"{1 + last['pass_flops'] / last['score_flops']:.2f}x `score` alone.",
    ]

    if args.agreement:
        noisy, flipped = flip_labels(y, args.noise, seed=0)
        print("agreement: single and double", file=sys.stderr, flush=True)
        found = {p: cgfast.suggest_labels(X, noisy, precision=p) for p in ("single", "double")}
        flags = {p: np.zeros(n, bool) for p in found}
        for p, s in found.items():
            flags[p][cgfast.find_label_issues(suggestions=s)] = True
        single, double = found["single"], found["double"]
        top = np.abs(double.predictions).max()
        same = np.mean(single.suggested_label == double.suggested_label)
        lines += [
            "",
            f'## Precision "single" against "double", {args.noise:.0%} of the labels '
            f"flipped at random ({int(flipped.sum())} rows)",
            "",
            "`cgfast.suggest_labels(X, y, precision=...)` and `cgfast.find_label_issues("
            "suggestions=...)` (its default rule) from each.",
            "",
            f"- Suggested label the same: {same:.2%} of the rows",
            f"- Flagged alike: {np.mean(flags['single'] == flags['double']):.2%} of the rows "
            f"({flags['single'].sum()} flagged in single, {flags['double'].sum()} in double, "
            f"{(flags['single'] & flags['double']).sum()} in both)",
            f"- Largest difference of a prediction: "
            f"{np.abs(single.predictions - double.predictions).max() / top:.1e} of the largest "
            f"prediction; of a label quality: "
            f"{np.abs(single.label_quality - double.label_quality).max():.1e}",
            f"- Flags that are flipped labels: single {flipped[flags['single']].mean():.3f}, "
            f"double {flipped[flags['double']].mean():.3f}; flipped labels flagged: single "
            f"{flags['single'][flipped].mean():.3f}, double {flags['double'][flipped].mean():.3f}",
        ]

    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
