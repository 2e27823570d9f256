"""Stable scores: the split-half estimate, repeats="auto", and the covering sampler."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import cgfast
from cgfast.plan import plan_blocks
from cgfast.stability import reliability, repeats_for, single_agreement, spearman, split_half


def noisy_halves(noise, n=2000, repeats=(3, 3), seed=0):
    """Sums over each half of ``repeats`` draws of truth + noise."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    return np.stack(
        [sum(truth + noise * rng.normal(size=n) for _ in range(count)) for count in repeats]
    )


def test_the_estimate_is_one_when_repeats_agree_exactly():
    assert split_half(noisy_halves(0.0), (3, 3)) == 1.0
    assert split_half(noisy_halves(0.0, repeats=(2, 1)), (2, 1)) == 1.0


def test_the_estimate_falls_as_noise_grows():
    estimates = [split_half(noisy_halves(noise), (3, 3)) for noise in (0.1, 0.5, 1, 2, 4, 8)]
    assert all(a > b for a, b in zip(estimates, estimates[1:]))
    assert estimates[0] > 0.99 and estimates[-1] < 0.3


def test_the_estimate_predicts_the_agreement_of_two_independent_runs():
    # Two runs of 6 repeats each, from the same truth: their Spearman is what the estimate of
    # either one predicts (Pearson/Spearman on Gaussians differ slightly; 0.03 is the issue's).
    rng = np.random.default_rng(1)
    truth = rng.normal(size=5000)
    for noise in (1.0, 2.0, 3.0):
        runs = [truth + noise * rng.normal(size=(6, 5000)) for _ in range(2)]
        measured = spearman(runs[0].mean(0), runs[1].mean(0))
        halves = np.stack([runs[0][0::2].sum(0), runs[0][1::2].sum(0)])
        assert split_half(halves, (3, 3)) == pytest.approx(measured, abs=0.03)


def test_uneven_halves_step_up_consistently():
    r = 0.4
    for a, b in ((1, 1), (2, 1), (5, 4)):
        correlation = np.sqrt(reliability(r, a) * reliability(r, b))
        assert single_agreement(correlation, a, b) == pytest.approx(r, abs=1e-12)
    assert repeats_for(0.95, reliability(r, 4), 4) == int(np.ceil(0.95 * 0.6 / (0.4 * 0.05)))


def mixture(n=600, d=10, classes=3, seed=0, flip=0.1):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(size=(classes, d))
    X = centres[y] + 1.5 * rng.normal(size=(n, d))
    noisy = y.copy()
    flipped = rng.random(n) < flip
    noisy[flipped] = (y[flipped] + 1) % classes
    return X, noisy


def test_stability_is_on_the_result_and_none_with_one_repeat():
    X, y = mixture()
    one = cgfast.score(X, y, repeats=1, return_terms=True)
    assert one.stability is None and one.repeats == 1
    many = cgfast.score(X, y, repeats=4, max_block=100, return_terms=True)
    assert 0 < many.stability <= 1 and many.repeats == 4
    assert np.array_equal(many.score, cgfast.score(X, y, repeats=4, max_block=100))


def test_auto_stops_at_the_target():
    X, y = mixture()
    with warnings.catch_warnings():
        warnings.simplefilter("error", cgfast.StabilityWarning)
        terms = cgfast.score(X, y, repeats="auto", max_block=100, stability=0.9, return_terms=True)
    assert terms.stability >= 0.9
    assert terms.repeats >= 4
    # The same as asking for that many repeats outright: rounds are a prefix of one plan.
    fixed = cgfast.score(X, y, repeats=terms.repeats, max_block=100, return_terms=True)
    assert np.array_equal(fixed.score, terms.score)


def test_auto_stops_at_the_cap_and_says_so():
    X, y = mixture(flip=0.3)
    with pytest.warns(cgfast.StabilityWarning, match=r"max_repeats=5 .* below the target 0\.99"):
        terms = cgfast.score(
            X, y, repeats="auto", max_block=60, stability=0.99, max_repeats=5, return_terms=True
        )
    assert terms.repeats == 5 and terms.stability < 0.99


def test_resuming_an_auto_run_from_a_checkpoint_is_identical(tmp_path, monkeypatch):
    X, y = mixture()
    args = dict(repeats="auto", max_block=100, stability=0.9, return_terms=True)
    first = cgfast.score(X, y, checkpoint=tmp_path, **args)
    blocks = sorted((tmp_path / "blocks").glob("*.npz"))
    for path in blocks[len(blocks) // 2 :]:  # a run killed half way
        path.unlink()
    again = cgfast.score(X, y, checkpoint=tmp_path, **args)
    assert np.array_equal(again.score, first.score) and again.stability == first.stability
    monkeypatch.setattr(cgfast.engine, "score_block", pytest.fail)
    third = cgfast.score(X, y, checkpoint=tmp_path, **args)
    assert np.array_equal(third.score, first.score)


def test_a_job_array_runs_auto_round_by_round(tmp_path):
    X, y = mixture()
    path = tmp_path / "X.npy"
    np.save(path, X)
    args = dict(repeats="auto", max_block=100, stability=0.9)
    local = cgfast.score(X, y, return_terms=True, **args)
    store = tmp_path / "run"
    submissions = 0
    while submissions < 10:
        submissions += 1
        for part in range(3):
            cgfast.score_part(path, y, checkpoint=store, part=part, parts=3, **args)
        try:
            assembled = cgfast.assemble(store, return_terms=True)
            break
        except ValueError as err:
            assert "run the parts again" in str(err)
    assert submissions >= 2  # the first round alone was not enough at this target
    assert np.array_equal(assembled.score, local.score)
    assert assembled.stability == local.stability


@pytest.mark.parametrize(
    "n, classes, max_block, repeats, ratio",
    [(1000, 10, 60, 9, 1.0), (1000, 10, 1000, 9, 1.0), (301, 2, 50, 7, 1.0),
     (500, 3, 80, 5, 2.5), (97, 4, 20, 13, 1.0), (400, 5, 130, 11, 0.5)],
)  # fmt: skip
def test_the_cover_sampler_shows_every_positive_every_pool_example_equally_often(
    n, classes, max_block, repeats, ratio
):
    codes = np.random.default_rng(n).integers(0, classes, n)
    blocks = plan_blocks(
        codes, ratio=ratio, repeats=repeats, max_block=max_block, seed=3, sampler="cover"
    )
    for c in range(classes):
        pool = np.flatnonzero(codes != c)
        mine = [block for block in blocks if block.label == c]
        # met[h, i, j]: the repeats of half h (even, odd) in which positive i met j
        met = np.zeros((2, n, n), dtype=int)
        for block in mine:
            assert len(np.unique(block.negatives)) == len(block.negatives)
            assert np.all(codes[block.negatives] != c)
            met[block.repeat % 2][np.ix_(block.positives, block.negatives)] += 1
        # The chunks of one repeat read one stretch: the shorter ones its first rows.
        for r in range(repeats):
            chunks = sorted((b for b in mine if b.repeat == r), key=lambda b: -len(b.negatives))
            for b in chunks[1:]:
                assert np.isin(b.negatives, chunks[0].negatives).all()
        equal = len({len(b.negatives) for b in mine}) == 1
        for i in np.flatnonzero(codes == c):
            # Every positive, whichever chunks it fell in, met the pool evenly in each half: ±1,
            # or ±2 where the shorter chunks stop one row before the end of a stretch.
            for half in met[:, i]:
                assert half[pool].max() - half[pool].min() <= (1 if equal else 2)
                assert half[codes == c].sum() == 0
        # The halves read streams of their own: the first repeats of each differ.
        if len(pool) > len(mine[0].negatives) and repeats > 1:
            second = next(b for b in mine if b.repeat == 1)
            assert not np.array_equal(mine[0].negatives, second.negatives)


def test_independent_draws_do_not_cover_the_pool_evenly():
    # The property above is the sampler's doing, not an accident of the test's sizes.
    codes = np.random.default_rng(1000).integers(0, 10, 1000)
    blocks = plan_blocks(codes, repeats=9, max_block=60, seed=3, sampler="independent")
    met = np.zeros(1000, dtype=int)  # for one positive of class 0
    first = np.flatnonzero(codes == 0)[0]
    for block in blocks:
        if block.label == 0 and first in block.positives:
            met[block.negatives] += 1
    assert met[codes != 0].max() - met[codes != 0].min() > 1


def test_the_sampler_is_part_of_the_checkpoint(tmp_path):
    X, y = mixture()
    cgfast.score(X, y, max_block=100, repeats=2, checkpoint=tmp_path)
    with pytest.raises(ValueError, match="arguments.sampler 'cover' there, 'independent' now"):
        cgfast.score(X, y, max_block=100, repeats=2, sampler="independent", checkpoint=tmp_path)


def test_a_checkpoint_of_the_first_cover_plan_is_not_mixed_with_this_one(tmp_path):
    # Before plan version 2 a "cover" checkpoint recorded no plan: its chunked blocks drew other
    # negatives, so it belongs to a different run. An "independent" one is unaffected.
    import json

    X, y = mixture()
    for sampler in ("cover", "independent"):
        store = tmp_path / sampler
        cgfast.score(X, y, max_block=100, repeats=2, sampler=sampler, checkpoint=store)
        manifest = json.loads((store / "manifest.json").read_text())
        assert manifest.pop("plan", None) == (2 if sampler == "cover" else None)
        manifest.pop("digest")  # as 0.2.0 wrote it: format 1, no digest
        manifest["format"] = 1
        (store / "manifest.json").write_text(json.dumps(manifest))
        if sampler == "cover":
            with pytest.raises(ValueError, match="plan 1 there, 2 now"):
                cgfast.score(X, y, max_block=100, repeats=2, checkpoint=store)
        else:
            cgfast.score(X, y, max_block=100, repeats=2, sampler=sampler, checkpoint=store)


def test_auto_runs_one_repeat_when_the_plan_draws_nothing():
    # Two classes of 200 at ratio 1: each block holds the whole other class, every repeat the
    # same block. "auto" sees that the score is exact and scores it once.
    rng = np.random.default_rng(16)
    X = rng.normal(size=(400, 24))
    y = np.arange(400) % 2
    terms = cgfast.score(X, y, return_terms=True)
    assert terms.repeats == 1
    assert np.array_equal(terms.score, cgfast.score(X, y, repeats=1))
    # Three classes in blocks of 100 draw negatives: "auto" goes on (to the cap, on noise).
    with pytest.warns(cgfast.StabilityWarning, match="stopped at max_repeats"):
        chunked = cgfast.score(X, np.arange(400) % 3, max_block=100, return_terms=True)
    assert chunked.repeats > 1
