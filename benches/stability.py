"""Stability of the ranking against its cost: block size x repeats x sampler, on real data.

For each configuration, two full runs with different seeds give the seed-to-seed Spearman a user
would see (over all examples, and over the examples whose labels are clean); the first run also
gives the Spearman to a reference (one block per class, averaged over 24 seeds), the average
precision (AP) of the flipped labels, and the stability that cgfast estimates from its own
repeats. Cost is time as a multiple of one R=1, one-block-per-class, float64 run of 0.1.0's
sampler, measured in the same process (the median of three runs), and beside it the same ratio
in flops, counting every block's Gram as if no kernel were cached.

    python benches/stability.py                 # Fashion-MNIST, 1500 per class (15000 rows)
    python benches/stability.py --set fmnist10k # 1000 per class: every class fits one block
    python benches/stability.py --set full      # all 60000 (no reference: too costly)
    python benches/stability.py --set mixture   # synthetic Gaussian mixture

Writes benches/results/stability-SET.json (with --only, the rows run replace those of the same
name and the others stay) and prints a Markdown table of every row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

import cgfast
from cgfast import engine
from cgfast.options import Options
from cgfast.plan import _CoverStream
from cgfast.stability import spearman

sys.path.insert(0, str(Path(__file__).parent))
from datasets import fashion_mnist, flip_labels  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, noisy labels, and which labels were flipped (10%)."""
    if name == "mixture":
        sys.path.insert(0, str(Path(__file__).parent))
        from synth import generate

        out = RESULTS / "mixture-20000"
        paths = generate(out, n=20000, d=256, classes=10, flip=0.1, noise=1.5)
        return np.load(paths[0]), np.load(paths[1]), np.load(paths[2])
    X, y = fashion_mnist(per_class={"fmnist10k": 1000, "fmnist15k": 1500}.get(name))
    noisy, flipped = flip_labels(y, 0.1, seed=0)
    return X, noisy, flipped


# ----------------------------------------------------------------------------- other samplers
# Designs measured against the shipped samplers at equal cost: stratified and per-repeat lost;
# one-stream (0.2.0's cover) is steadier per repeat but its stability estimate is pessimistic.


class _StratifiedStream(_CoverStream):
    """A cover stream whose every order interleaves the other classes in proportion."""

    codes: np.ndarray

    def _shuffled(self, g: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, g, self.label, 7])
        classes = self.codes[self.pool]
        key = np.empty(len(self.pool))
        for c in np.unique(classes):
            members = np.flatnonzero(classes == c)
            slots = rng.permutation(len(members)) + rng.random(len(members))
            key[members] = slots / len(members)
        return np.argsort(key, kind="stable")


def _replan(run: engine.Run, design: str) -> None:
    """Replaces the negatives of ``run``'s plan by those of another design, sizes unchanged."""
    codes, seed = run.codes, run.options.seed
    streams: dict = {}
    blocks = []
    for index, block in enumerate(run.blocks):
        pool = np.flatnonzero(codes != block.label)
        want = len(block.negatives)
        if want == len(pool):
            blocks.append(block)
            continue
        if design in ("stratified", "one-stream"):
            # One stream per class for all repeats, the chunks of a repeat on consecutive
            # stretches: 0.2.0's cover ("one-stream"), or orders that interleave the other
            # classes in proportion ("stratified"). One stream covers the pool more evenly than
            # two, but the halves of its repeats are complementary.
            if block.label not in streams:
                sizes = [
                    len(b.negatives) for b in run.blocks[: run.per_repeat] if b.label == block.label
                ]
                kind = _StratifiedStream if design == "stratified" else _CoverStream
                streams[block.label] = kind(pool, seed, block.label, sizes)
                if design == "stratified":
                    streams[block.label].codes = codes
            stream = streams[block.label]
            start = block.repeat * sum(stream.stretches) + sum(stream.stretches[: block.chunk])
            negatives = np.sort(stream.window(start, want))
        elif design == "per-repeat":
            # Disjoint within a repeat (one permutation shared by the chunks), fresh each repeat.
            rng = np.random.default_rng([seed, block.repeat, block.label, 11])
            order = rng.permutation(pool)
            chunks = [b for b in run.blocks[: run.per_repeat] if b.label == block.label]
            start = sum(len(b.negatives) for b in chunks[: block.chunk]) % len(pool)
            negatives = np.sort(np.roll(order, -start)[:want])
        else:
            raise ValueError(design)
        blocks.append(engine.Block(block.repeat, block.label, block.chunk, negatives,
                                   block.positives))  # fmt: skip
        del index
    run.blocks = blocks


def quick_config(y: np.ndarray) -> dict:
    """The yardstick of cost: one R=1 run, one block per class, 0.1.0's sampler, float64."""
    return dict(max_block=2 * int(np.bincount(y).max()), repeats=1, sampler="independent",
                precision="double")  # fmt: skip


def scores(X, y, config: dict, seed: int) -> tuple[cgfast.ScoreTerms, float, int]:
    """One run of ``config`` with ``seed``: its terms, its time in seconds, and its flops."""
    design = config.get("design")
    options = Options(
        repeats=config["repeats"],
        max_block=config.get("max_block"),
        sampler=config.get("sampler", "cover") if design is None else "independent",
        precision=config.get("precision", "double"),
        seed=seed,
    )
    start = time.perf_counter()
    run = engine.prepare(X, y, options)
    if design is not None:
        _replan(run, design)
    outcome = engine.complete(run, engine.LocalExecutor())
    terms = engine.assemble(outcome.results, run.rows.n, outcome.repeats, return_terms=True)
    flops = sum(run.work(block) for block in run.blocks[: len(outcome.results)])
    return terms, time.perf_counter() - start, flops


def configs(block: int, per_class_block: int) -> list[dict]:
    """The frontier: ``per_class_block`` holds a whole class and its negatives."""
    one = per_class_block
    rows = [
        dict(name="0.1.0 default", max_block=one, repeats=1, sampler="independent"),
        dict(name="one block, R=3", max_block=one, repeats=3, sampler="independent"),
        dict(name="one block, R=3 cover", max_block=one, repeats=3, sampler="cover"),
        dict(name="one block, R=9 independent", max_block=one, repeats=9, sampler="independent"),
        dict(name="one block, R=9 cover", max_block=one, repeats=9, sampler="cover"),
        dict(name="one block, R=9 one-stream", max_block=one, repeats=9, design="one-stream"),
    ]
    for size, repeats in ((1000, 10), (block, 6), (block, 8)):
        for sampler in ("independent", "cover"):
            rows.append(dict(name=f"blocks {size}, R={repeats} {sampler}", max_block=size,
                             repeats=repeats, sampler=sampler))  # fmt: skip
        for design in ("stratified", "per-repeat", "one-stream"):
            rows.append(dict(name=f"blocks {size}, R={repeats} {design}", max_block=size,
                             repeats=repeats, design=design))  # fmt: skip
    for repeats in (10, 12, 16):
        rows.append(dict(name=f"blocks {block}, R={repeats} cover", max_block=block,
                         repeats=repeats, sampler="cover"))  # fmt: skip
    for repeats in (10, 11, 12, 16):
        rows.append(dict(name=f"blocks 2048, R={repeats} cover", max_block=2048,
                         repeats=repeats, sampler="cover"))  # fmt: skip
    rows.append(dict(name=f"blocks {block}, auto", max_block=block, repeats="auto"))
    rows.append(dict(name="auto, max_block 1024", max_block=1024, repeats="auto"))
    for size in (512, 768, 1024, 1536):  # the block-size frontier at the default precision
        rows.append(dict(name=f"auto single, max_block {size}", max_block=size, repeats="auto",
                         precision="single"))  # fmt: skip
    rows.append(dict(name="default (auto, blocks up to 2048)", repeats="auto"))  # in double
    rows.append(dict(name="default, single (auto, blocks up to 2048)", repeats="auto",
                     precision="single"))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--set", default="fmnist15k", choices=["fmnist10k", "fmnist15k", "full", "mixture"]
    )
    parser.add_argument("--block", type=int, default=1500, help="block size of the frontier rows")
    parser.add_argument("--only", help="substrings of config names to run, separated by |")
    parser.add_argument("--reference-seeds", type=int, default=24)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    X, y, flipped = load(args.set)
    clean = ~flipped
    one = 2 * int(np.bincount(y).max())
    print(f"# {args.set}: {X.shape[0]} x {X.shape[1]}, one block per class = {one} rows")

    unit_config = quick_config(y)
    if args.set == "full":  # the unit run's flops only: timing it takes longer than the rest
        run = engine.prepare(X, y, Options(**{k: unit_config[k] for k in ("max_block", "repeats")}))
        base, unit, unit_flops = None, None, sum(run.work(b) for b in run.blocks)
    else:
        # The median of three runs: one run of a few seconds moves by 20% on a shared machine.
        runs = [scores(X, y, unit_config, 0) for _ in range(3)]
        base, _, unit_flops = runs[0]
        times = sorted(t for _, t, _ in runs)
        unit = times[1]
        print(f"unit (one R=1 one-block-per-class float64 run): {unit:.2f} s, median of "
              f"{', '.join(f'{t:.2f}' for t in times)}", flush=True)  # fmt: skip

    reference = None
    if args.set != "full":
        path = RESULTS / f"reference-{args.set}-{args.reference_seeds}.npy"
        if path.exists():
            reference = np.load(path)
        else:
            runs = [base.score] + [
                scores(X, y, unit_config, 1000 + s)[0].score for s in range(1, args.reference_seeds)
            ]
            reference = np.mean(runs, axis=0)
            np.save(path, reference)
            half = args.reference_seeds // 2
            agree = spearman(np.mean(runs[:half], 0), np.mean(runs[half:], 0))
            print(f"reference: {args.reference_seeds} seeds, halves agree at {agree:.3f}")
        ap_ref = average_precision_score(flipped, reference)
        print(f"reference AP {ap_ref:.3f}")

    table = []
    wanted = args.only.split("|") if args.only else None
    for config in configs(args.block, one):
        if wanted and not any(w in config["name"] for w in wanted):
            continue
        a, ta, fa = scores(X, y, config, 1)
        b, tb, fb = scores(X, y, config, 2)
        row = dict(
            config,
            seconds=(ta + tb) / 2,
            cost=None if unit is None else (ta + tb) / 2 / unit,
            flops=(fa + fb) / 2 / unit_flops,
            seed_to_seed=spearman(a.score, b.score),
            seed_to_seed_clean=spearman(a.score[clean], b.score[clean]),
            to_reference=None if reference is None else spearman(a.score, reference),
            ap=average_precision_score(flipped, a.score),
            stability=a.stability,
            repeats_used=a.repeats,
        )
        table.append(row)
        print(json.dumps(row), flush=True)
    out = RESULTS / f"stability-{args.set}.json"
    if wanted and out.exists():  # keep the rows not rerun, in their order, and add the new ones
        ran = {r["name"]: r for r in table}
        kept = json.loads(out.read_text())["rows"]
        table = [ran.pop(r["name"], r) for r in kept] + list(ran.values())
    out.write_text(json.dumps(dict(unit_seconds=unit, unit_flops=unit_flops, rows=table), indent=1))
    print("\n| configuration | precision | repeats | cost (flops / time) "
          "| seed-to-seed (all / clean) | to reference | AP | reported stability |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in table:
        ref = "–" if r["to_reference"] is None else f"{r['to_reference']:.3f}"
        st = "–" if r["stability"] is None else f"{r['stability']:.3f}"
        cost = f"{r['flops']:.2f}x / " + ("–" if r["cost"] is None else f"{r['cost']:.2f}x")
        print(f"| {r['name']} | {r.get('precision', 'double')} | {r['repeats_used']} | {cost} | "
              f"{r['seed_to_seed']:.3f} / {r['seed_to_seed_clean']:.3f} | {ref} | "
              f"{r['ap']:.3f} | {st} |")  # fmt: skip


if __name__ == "__main__":
    main()
