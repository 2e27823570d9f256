"""Per-class pruning (cgfast.prune): counts, strategies, determinism, arguments."""

from __future__ import annotations

import numpy as np
import pytest

import cgfast

STRATEGIES = ["coverage", "keep-hard", "keep-easy"]
SIZES = {0: 1, 1: 2, 2: 7, 3: 40, 4: 153}


def kept_count(keep, size):
    return max(1, int(np.floor(keep * size + 0.5)))


def awkward(seed=3):
    """Classes of 1, 2, 7, 40 and 153 examples, shuffled, with heavy-tailed scores like CG's."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(list(SIZES), list(SIZES.values())))
    return rng.lognormal(sigma=1.5, size=len(y)), y


@pytest.mark.parametrize("keep", [0.01, 0.1, 0.25, 0.5, 0.7, 0.999, 1.0])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_keeps_the_count_of_every_class_once(keep, strategy):
    scores, y = awkward()
    kept = cgfast.prune(scores, y, keep=keep, strategy=strategy)
    assert np.array_equal(kept, np.unique(kept))  # increasing, no example twice
    assert kept.min() >= 0 and kept.max() < len(y)
    for label, size in SIZES.items():
        assert np.sum(y[kept] == label) == kept_count(keep, size)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_keep_one_keeps_everything(strategy):
    scores, y = awkward()
    np.testing.assert_array_equal(
        cgfast.prune(scores, y, keep=1.0, strategy=strategy), np.arange(len(y))
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rounds_half_up_and_keeps_one(strategy):
    y = np.repeat([0, 1, 2], [3, 10, 2])
    scores = np.arange(15.0)
    kept = cgfast.prune(scores, y, keep=0.5, strategy=strategy)
    assert np.bincount(y[kept]).tolist() == [2, 5, 1]
    kept = cgfast.prune(scores, y, keep=0.01, strategy=strategy)
    assert np.bincount(y[kept]).tolist() == [1, 1, 1]


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_keep_hard_and_keep_easy_keep_one_end_of_each_class(keep):
    scores, y = awkward()
    hard = cgfast.prune(scores, y, keep=keep, strategy="keep-hard")
    easy = cgfast.prune(scores, y, keep=keep, strategy="keep-easy")
    for label in SIZES:
        members = np.flatnonzero(y == label)
        for kept, highest in ((hard, True), (easy, False)):
            mine = np.intersect1d(kept, members)
            rest = np.setdiff1d(members, mine)
            if rest.size and highest:
                assert scores[mine].min() >= scores[rest].max()
            elif rest.size:
                assert scores[mine].max() <= scores[rest].min()


@pytest.mark.parametrize("strategy, expected", [("keep-hard", [1, 2, 5, 10]),
                                                ("keep-easy", [6, 7, 8, 10])])  # fmt: skip
def test_ends_break_ties_by_lower_index(strategy, expected):
    scores = np.array([1.0, 5.0, 5.0, 5.0, 5.0, 9.0, 0.0, 0.0, 0.0, 0.0, 4.0, 4.0, 4.0])
    y = np.array([0] * 10 + [1] * 3)
    assert cgfast.prune(scores, y, keep=0.3, strategy=strategy).tolist() == expected


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_same_seed_gives_the_same_indices(strategy):
    scores, y = awkward()
    first = cgfast.prune(scores, y, keep=0.3, strategy=strategy, seed=7)
    np.testing.assert_array_equal(
        first, cgfast.prune(scores, y, keep=0.3, strategy=strategy, seed=7)
    )


def test_coverage_draws_differ_between_seeds_and_ends_do_not():
    scores, y = awkward()
    draws = {tuple(cgfast.prune(scores, y, keep=0.3, seed=s)) for s in range(4)}
    assert len(draws) == 4
    ends = {
        tuple(cgfast.prune(scores, y, keep=0.3, strategy="keep-hard", seed=s)) for s in range(4)
    }
    assert len(ends) == 1


def test_coverage_is_the_default():
    scores, y = awkward()
    np.testing.assert_array_equal(
        cgfast.prune(scores, y, keep=0.3, seed=2),
        cgfast.prune(scores, y, keep=0.3, strategy="coverage", seed=2),
    )


def equal_width_bins(values, bins):
    """Which of ``bins`` equal-width bins over [min, max] each value falls in (max in the last)."""
    edges = np.linspace(values.min(), values.max(), bins + 1)
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)


@pytest.mark.parametrize("beta", [0.0, 0.05, 0.2])
@pytest.mark.parametrize("keep", [0.05, 0.2, 0.5])
def test_coverage_cuts_the_top_beta_and_shares_the_budget_evenly_across_bins(beta, keep):
    rng = np.random.default_rng(11)
    y = np.repeat([0, 1], [600, 997])
    scores = rng.lognormal(sigma=1.0, size=len(y))
    kept = cgfast.prune(scores, y, keep=keep, beta=beta, bins=10, seed=1)
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        by_score = members[np.argsort(-scores[members], kind="stable")]
        cut = int(np.floor(beta * len(members) + 0.5))
        assert not np.isin(by_score[:cut], kept).any()  # the top beta is gone
        pool = by_score[cut:]
        strata = equal_width_bins(scores[pool], 10)
        counts = np.bincount(strata, minlength=10)
        taken = np.bincount(strata[np.isin(pool, kept)], minlength=10)
        assert taken.sum() == kept_count(keep, len(members))
        # Water-filling: a common level, bins under it keep all, the rest the level or one more.
        level = taken[taken < counts].min() if (taken < counts).any() else counts.max()
        assert np.all((taken == counts) | (taken == level) | (taken == level + 1))
        assert np.all(taken[counts <= level] == counts[counts <= level])
        assert np.all(taken <= counts)


def test_coverage_keeps_examples_across_the_score_range():
    # Two classes of 1000 evenly spaced scores, shuffled: 10 bins of 100, 10 kept from each.
    rank = np.concatenate([np.random.default_rng(c).permutation(1000) for c in (0, 1)])
    scores = (rank + 0.5) / 1000
    y = np.repeat([0, 1], 1000)
    kept = cgfast.prune(scores, y, keep=0.1, beta=0.0, bins=10)
    deciles = rank // 100
    for label in (0, 1):
        mine = kept[y[kept] == label]
        assert np.bincount(deciles[mine], minlength=10).tolist() == [10] * 10
    hard = cgfast.prune(scores, y, keep=0.1, strategy="keep-hard")
    assert np.all(deciles[hard] >= 8)  # keep-hard takes about one decile, for contrast


def test_coverage_never_cuts_below_the_count_kept():
    scores, y = awkward()
    kept = cgfast.prune(scores, y, keep=0.95, beta=0.3)
    for label, size in SIZES.items():
        assert np.sum(y[kept] == label) == kept_count(0.95, size)


def test_coverage_with_equal_scores_in_a_class():
    y = np.repeat([0, 1], [20, 5])
    kept = cgfast.prune(np.ones(25), y, keep=0.4, beta=0.1)
    assert np.bincount(y[kept]).tolist() == [8, 2]


@pytest.mark.parametrize("drop, strategy", [("easy", "keep-hard"), ("hard", "keep-easy")])
def test_the_older_drop_keyword_is_a_strategy(drop, strategy):
    scores, y = awkward()
    with pytest.warns(DeprecationWarning, match=strategy):
        kept = cgfast.prune(scores, y, keep=0.4, drop=drop)
    np.testing.assert_array_equal(kept, cgfast.prune(scores, y, keep=0.4, strategy=strategy))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(keep=0.0), ValueError, "keep must .* got 0.0"),
        (dict(keep=1.5), ValueError, "keep must .* got 1.5"),
        (dict(keep="half"), TypeError, "keep must .* got 'half'"),
        (dict(keep=True), TypeError, "keep must .* got True"),
        (dict(keep=0.5, strategy="middle"), ValueError, "strategy must .* got 'middle'"),
        (dict(keep=0.5, drop="middle"), ValueError, "drop must .* got 'middle'"),
        (dict(keep=0.5, drop="easy", strategy="coverage"), TypeError, "not both"),
        (dict(keep=0.5, beta=-0.1), ValueError, "beta must .* got -0.1"),
        (dict(keep=0.5, beta=1.0), ValueError, "beta must .* got 1.0"),
        (dict(keep=0.5, beta="top"), TypeError, "beta must .* got 'top'"),
        (dict(keep=0.5, bins=0), ValueError, "bins must .* got 0"),
        (dict(keep=0.5, bins=2.5), TypeError, "bins must .* got 2.5"),
        (dict(keep=0.5, seed=-1), ValueError, "seed must .* got -1"),
        (dict(keep=0.5, seed=1.5), TypeError, "seed must .* got 1.5"),
        (dict(keep=0.5, strategy="keep-hard", beta=0.1), TypeError, "coverage strategy only"),
        (dict(keep=0.5, strategy="keep-easy", bins=10), TypeError, "coverage strategy only"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        cgfast.prune(np.zeros(4), [0, 0, 1, 1], **kwargs)


def test_bad_scores_and_labels_are_refused_with_the_value():
    with pytest.raises(ValueError, match="3 labels"):
        cgfast.prune(np.zeros(4), [0, 1, 1], keep=0.5)
    with pytest.raises(ValueError, match="index 1"):
        cgfast.prune([0.0, np.inf], [0, 1], keep=0.5)
    with pytest.raises(TypeError, match="dtype"):
        cgfast.prune(["a", "b"], [0, 1], keep=0.5)


def test_seed_takes_what_score_takes():
    scores, y = awkward()
    from_generator = cgfast.prune(scores, y, keep=0.3, seed=np.random.default_rng(4))
    again = cgfast.prune(scores, y, keep=0.3, seed=np.random.default_rng(4))
    np.testing.assert_array_equal(from_generator, again)
    fresh = cgfast.prune(scores, y, keep=0.3, seed=None)
    assert np.bincount(y[fresh]).tolist() == np.bincount(y[again]).tolist()


def test_a_score_table_gives_the_kept_examples_ids():
    scores, y = awkward()
    ids = np.array([f"img{i}.png" for i in range(len(y))])
    columns = {"id": ids, "label": y, "score": scores, "rank_in_class": np.zeros(len(y))}
    tables = [columns]
    pandas = pytest.importorskip("pandas")
    tables.append(pandas.DataFrame(columns, index=np.arange(len(y)) + 1000))
    pyarrow = pytest.importorskip("pyarrow")
    tables.append(pyarrow.table(columns))
    for table in tables:
        for strategy in STRATEGIES:
            kept = cgfast.prune(scores, y, keep=0.3, strategy=strategy, seed=5)
            rows = cgfast.prune(table, keep=0.3, strategy=strategy, seed=5)
            assert list(rows.columns) == ["index", "id", "label", "score"]
            assert rows["index"].tolist() == kept.tolist()
            assert rows["id"].tolist() == ids[kept].tolist()
            assert rows["label"].tolist() == y[kept].tolist()
            np.testing.assert_array_equal(rows["score"], scores[kept])
    no_ids = cgfast.prune({"label": y, "score": scores}, keep=0.3)
    assert no_ids["id"].tolist() == no_ids["index"].tolist()


def test_a_score_table_is_checked():
    scores, y = awkward()
    table = {"id": np.arange(len(y)), "label": y, "score": scores}
    with pytest.raises(TypeError, match="leave out y"):
        cgfast.prune(table, y, keep=0.3)
    with pytest.raises(ValueError, match="no 'label' column .* id, score"):
        cgfast.prune({"id": table["id"], "score": scores}, keep=0.3)
    with pytest.raises(TypeError, match="needs y"):
        cgfast.prune(scores, keep=0.3)


@pytest.mark.parametrize("keep, beta", [(0.05, 0.2), (0.1, 0.2), (0.2, 0.125), (0.3, 0.05),
                                        (0.4, 0.025), (0.5, 0.0), (0.9, 0.0)])  # fmt: skip
def test_coverage_cuts_more_when_less_is_kept(keep, beta):
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 400)
    scores = rng.lognormal(size=len(y))
    np.testing.assert_array_equal(
        cgfast.prune(scores, y, keep=keep, seed=3),
        cgfast.prune(scores, y, keep=keep, beta=beta, seed=3),
    )
