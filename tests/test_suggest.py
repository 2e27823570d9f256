"""Suggested labels: the out-of-block and leave-one-out predictions against a NumPy oracle, the
plan, recovery of planted flips, and the same bits on any thread count, executor and checkpointed
rerun."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import fitted_predictions, gram, loo_predictions

import cgfast
from cgfast import _native
from cgfast.engine import LocalExecutor, prepare_suggestions, run_suggestions
from cgfast.options import Options
from cgfast.suggest import (
    DEFAULT_REPEATS,
    MAX_PREDICTED,
    RIDGES,
    SUGGEST_PLAN_VERSION,
    choose_ridge,
    plan_suggestions,
    targets,
)


def clusters(n: int, classes: int, d: int = 6, seed: int = 0, spread: float = 0.6):
    """Gaussian clusters around random unit centres, one per class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d))
    y = rng.integers(0, classes, n)
    return centres[y] + spread * rng.normal(size=(n, d)), y


def planted(y: np.ndarray, count: int, classes: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(y), count, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, classes, count)) % classes
    return noisy, flipped


@pytest.mark.parametrize("k", [2, 3, 17, 64, 129])
def test_predictions_match_an_explicit_solve_without_each_row(k):
    X, y = clusters(k, 3, seed=k)
    Y = targets(y, 3)
    for dtype in (np.float64, np.float32):
        out = _native.predict(X.astype(dtype), Y, 2)
        assert out.ridge == 0.0 and not out.fallback
        x = X.astype(dtype).astype(np.float64)
        want = loo_predictions(gram(x), Y)
        np.testing.assert_allclose(out.predictions, want, rtol=1e-10, atol=1e-10)
        # H in float32: every prediction within 1e-3 of the largest (measured: 2e-4 of it on
        # blocks of 2048 Fashion-MNIST images), and never the float64 bits.
        single = _native.predict(X.astype(dtype), Y, 2, "single")
        assert single.ridge == 0.0 and not single.fallback
        np.testing.assert_allclose(single.predictions, want, atol=1e-3 * np.abs(want).max())
        if k > 3:
            assert not np.array_equal(single.predictions, out.predictions)


@pytest.mark.parametrize("shift", [0.01, 1.0, 100.0])
def test_ridge_predictions_match_an_explicit_ridge_solve_without_each_row(shift):
    X, y = clusters(40, 3, seed=3)
    Y = targets(y, 3)
    want = loo_predictions(gram(X), Y, shift)
    out = _native.predict(X, Y, 2, shift=shift)
    assert out.ridge == 0.0 and not out.fallback
    np.testing.assert_allclose(out.predictions, want, rtol=1e-10, atol=1e-10)
    single = _native.predict(X.astype(np.float32), Y, 2, "single", shift=shift)
    assert not single.fallback
    np.testing.assert_allclose(single.predictions, want, atol=1e-3 * np.abs(want).max())
    kernel = _native.gram(X, 2)
    index = np.arange(len(X))
    cached = _native.predict_cached(kernel, index, Y, 3, shift=shift)
    assert np.array_equal(cached.predictions, out.predictions)
    # The shift of the kernel asked for, or the same shift added to the kernel first: the bits.
    shifted = kernel.copy()
    shifted[index, index] += shift * np.mean(np.diag(kernel))
    assert np.array_equal(_native.predict_cached(shifted, index, Y, 1).predictions, out.predictions)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="shift must be a finite number"):
            _native.predict(X, Y, 2, shift=bad)
    with pytest.raises(ValueError, match="leave-one-out"):
        _native.predict(X, Y[:10], 2, fitted=10, shift=1.0)


def test_one_block_predicts_with_the_ridge_whose_predictions_are_closest_to_the_targets():
    X, y = clusters(150, 3, seed=8, spread=1.0)
    noisy, _ = planted(y, 30, 3)
    H, Y = gram(X), targets(noisy, 3)
    candidates = [loo_predictions(H, Y, shift) for shift in RIDGES]
    errors = [np.mean((F - Y) ** 2) for F in candidates]
    best = int(np.argmin(errors))
    assert sorted(errors)[1] - errors[best] > 1e-6  # a clear choice, no near tie
    found = cgfast.suggest_labels(X, noisy, precision="double")
    assert found.ridge == RIDGES[best] > 0
    np.testing.assert_allclose(found.predictions, candidates[best], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("n", [12, 150])
@pytest.mark.parametrize("precision", ["double", "single"])
def test_one_block_builds_its_kernel_once_and_every_ridge_gets_the_bits_of_its_rows(n, precision):
    """A block of all rows builds its kernel once for the ten ridges: each ridge's predictions
    are the bits ``_native.predict`` builds from the rows, on any thread count."""
    from cgfast.engine import Rows, predict_block
    from cgfast.plan import Block

    X, y = clusters(n, 3, seed=n)
    noisy, _ = planted(y, n // 6, 3)
    order = np.random.default_rng(0).permutation(n)  # the block's own order, not X's
    block = Block(0, 0, 0, np.zeros(0, dtype=np.int64), order)
    Y = targets(noisy[order], 3)
    for threads in (1, 3):
        found = predict_block(Rows(X), block, noisy[order], 3, threads, precision)
        want = _native.predict(X[order], Y, threads, precision, None, found.shift)
        assert found.terms.tobytes() == want.predictions.T.tobytes()
        assert found.shift in RIDGES


def test_choose_ridge_takes_the_least_squared_error_first_on_ties_and_skips_non_finite():
    codes = np.array([0, 1, 1, 0])
    y = targets(codes, 2)
    far, near = y * 0.2, y * 0.9
    made = []

    def candidates(*arrays):
        for i, f in enumerate(arrays):
            made.append(i)
            yield i, f

    def pick(*arrays):
        return choose_ridge(candidates(*arrays), codes, lambda c: c[1])[0]

    assert pick(far, near, far) == 1
    assert pick(near, near.copy()) == 0  # a tie: the earlier, smaller ridge
    assert pick(np.full_like(y, np.nan), far, near) == 2
    assert pick(np.full_like(y, np.inf), np.full_like(y, np.nan)) == 0
    made.clear()
    pick(far, near, far)
    assert made == [0, 1, 2]  # drawn one at a time, each once
    with pytest.raises(ValueError, match="no candidate"):
        choose_ridge(iter(()), codes, lambda c: c)


@pytest.mark.parametrize("k, fitted", [(2, 1), (20, 1), (20, 19), (90, 40), (1500, 300)])
def test_out_of_block_predictions_match_an_explicit_fit(k, fitted):
    X, y = clusters(k, 3, seed=k + fitted)
    Y = targets(y[:fitted], 3)
    want = fitted_predictions(gram(X), Y, fitted)
    for dtype in (np.float64, np.float32):
        out = _native.predict(X.astype(dtype), Y, 2, fitted=fitted)
        assert out.predictions.shape == (k - fitted, 3)
        assert out.ridge == 0.0 and not out.fallback
        x = X.astype(dtype).astype(np.float64)
        np.testing.assert_allclose(
            out.predictions, fitted_predictions(gram(x), Y, fitted), rtol=1e-9, atol=1e-9
        )
        single = _native.predict(X.astype(dtype), Y, 2, "single", fitted=fitted)
        assert not single.fallback
        np.testing.assert_allclose(single.predictions, want, atol=1e-3 * np.abs(want).max())
    # the same bits with every kernel value copied out of the whole kernel, rows in any order
    order = np.random.default_rng(k).permutation(k)
    for precision, dtype in (("double", np.float64), ("single", np.float32)):
        kernel = _native.gram(X, 2, whole=False, precision=precision)
        assert kernel.dtype == dtype
        for index in (np.arange(k), order):
            Yi = targets(y[index[:fitted]], 3)
            direct = _native.predict(X[index], Yi, 2, precision, fitted=fitted)
            cached = _native.predict_cached(kernel, index, Yi, 3, fitted=fitted)
            assert cached is not None
            assert np.array_equal(cached.predictions, direct.predictions), (precision, k)


def test_a_predicted_row_that_duplicates_a_fitted_one_gets_its_target():
    # Its kernel values are the fitted row's (1/2 against itself, from the chord rather than a
    # rounded cosine), so the regressor, which interpolates its fit, predicts that row's target.
    X, y = clusters(40, 3, seed=7)
    X[30] = X[4]
    Y = targets(y[:20], 3)
    out = _native.predict(X, Y, 2, fitted=20)
    np.testing.assert_allclose(out.predictions[10], Y[4], rtol=0, atol=1e-12)


def test_bad_splits_of_a_prediction_block_are_refused():
    X, y = clusters(10, 2)
    with pytest.raises(ValueError, match="at least one must be fitted and one predicted"):
        _native.predict(X, targets(y, 2), 1, fitted=10)
    with pytest.raises(ValueError, match="at least one must be fitted"):
        _native.predict(X, targets(y[:0], 2), 1, fitted=0)
    with pytest.raises(ValueError, match="rows of targets"):
        _native.predict(X, targets(y[:4], 2), 1, fitted=5)
    bad = X.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        _native.predict(bad, targets(y[:4], 2), 1, fitted=4)


def test_real_valued_targets_are_predicted_too():
    X, _ = clusters(40, 2, seed=3)
    Y = np.random.default_rng(4).normal(size=(40, 2))
    got = _native.predict(X, Y, 1).predictions
    np.testing.assert_allclose(got, loo_predictions(gram(X), Y), rtol=1e-10, atol=1e-10)


def test_single_precision_suggests_the_labels_of_double_and_flags_alike():
    X, y = clusters(900, 3, seed=11, spread=0.35)
    noisy, _ = planted(y, 45, 3)
    single = cgfast.suggest_labels(X, noisy, max_block=300)
    double = cgfast.suggest_labels(X, noisy, max_block=300, precision="double")
    assert np.array_equal(single.suggested_label, double.suggested_label)
    top = np.abs(double.predictions).max()
    np.testing.assert_allclose(single.predictions, double.predictions, atol=1e-3 * top)
    np.testing.assert_allclose(single.label_quality, double.label_quality, atol=1e-3)
    flags = [cgfast.find_label_issues(suggestions=s) for s in (single, double)]
    assert np.array_equal(*flags)


def test_a_block_float32_cannot_factorise_is_predicted_in_double_with_a_warning(monkeypatch):
    X, y = clusters(300, 3, seed=5)
    X[7] = X[200]  # a duplicate row: float32 hands the block to float64, which takes a ridge
    # ... unless a kernel ridge is chosen (it makes the block positive definite): the
    # interpolating regressor alone here, as a block of chunks fits it.
    monkeypatch.setattr("cgfast.engine.RIDGES", (0.0,))
    with pytest.warns(cgfast.RidgeWarning):
        double = cgfast.suggest_labels(X, y, precision="double")
    run = prepare_suggestions(X, y, Options(n_jobs=2), DEFAULT_REPEATS)
    assert run.options.precision == "single"
    for executor in (LocalExecutor(cache=False), LocalExecutor(cache=True)):
        with (
            pytest.warns(cgfast.RidgeWarning),
            pytest.warns(cgfast.PrecisionWarning, match="1 of 1 suggestion block"),
        ):
            single = run_suggestions(run, executor)
        assert np.array_equal(single.predictions, double.predictions)


def test_each_block_fits_one_chunk_and_predicts_rows_it_never_saw():
    _, y = clusters(1003, 4, seed=2)
    shares = np.bincount(y) / len(y)
    # 5 chunks of at most 250 rows: 4 others to predict from, so 9 predictions a row take
    # partitions that predict 4, 4 and 1 chunks; 3 predictions a row take one partition.
    for repeats, partitions in ((9, [4, 4, 1]), (3, [3]), (1, [1])):
        blocks = plan_suggestions(y, repeats=repeats, max_block=250, seed=5)
        assert len(blocks) == 5 * len(partitions)
        counts = np.zeros(len(y), int)
        for repeat, q in enumerate(partitions):
            mine = [b for b in blocks if b.repeat == repeat]
            fitted = np.concatenate([b.negatives for b in mine])
            assert np.array_equal(np.sort(fitted), np.arange(len(y)))  # a partition
            sizes = [len(b.negatives) for b in mine]
            assert max(sizes) <= 250 and max(sizes) - min(sizes) <= 1
            for c, b in enumerate(mine):
                assert np.all(np.diff(b.negatives) > 0) and np.all(np.diff(b.positives) > 0)
                # every class in proportion: within one example of its share
                got = np.bincount(y[b.negatives], minlength=4)
                assert np.all(np.abs(got - shares * len(b.negatives)) <= 1 + 1e-9)
                # the q chunks after it, never its own rows
                after = np.concatenate([mine[(c + j) % 5].negatives for j in range(1, q + 1)])
                assert np.array_equal(b.positives, np.sort(after))
                assert not np.intersect1d(b.positives, b.negatives).size
                counts[b.positives] += 1
        assert np.all(counts == repeats)
    # fresh deals in each partition, the same for the same seed
    blocks = plan_suggestions(y, repeats=9, max_block=250, seed=5)
    assert not np.array_equal(blocks[0].negatives, blocks[5].negatives)
    again = plan_suggestions(y, repeats=9, max_block=250, seed=5)
    assert all(
        np.array_equal(a.negatives, b.negatives) and np.array_equal(a.positives, b.positives)
        for a, b in zip(blocks, again)
    )
    # a block predicts at most MAX_PREDICTED chunks: 39 chunks, 12 predictions a row
    many = plan_suggestions(y, repeats=12, max_block=26, seed=5)
    assert max(len(b.positives) for b in many) <= MAX_PREDICTED * 26
    assert len(many) == 39 * 2
    # one block holding everything predicts its rows leave-one-out, once
    (one,) = plan_suggestions(y, repeats=3, max_block=2000, seed=5)
    assert len(one.negatives) == 0 and np.array_equal(one.positives, np.arange(len(y)))


def test_predictions_average_the_fits_that_never_saw_the_row():
    # The whole pass against NumPy: each block's regressor fitted by an explicit solve.
    X, y = clusters(430, 3, seed=12, spread=0.5)
    noisy, _ = planted(y, 20, 3)
    found = cgfast.suggest_labels(X, noisy, max_block=100, precision="double", repeats=5)
    H, Y = gram(X), targets(noisy, 3)
    sums, counts = np.zeros((len(y), 3)), np.zeros(len(y))
    for block in plan_suggestions(noisy, repeats=5, max_block=100, seed=0):
        fit, rows = block.negatives, block.positives
        sums[rows] += H[np.ix_(rows, fit)] @ np.linalg.solve(H[np.ix_(fit, fit)], Y[fit])
        counts[rows] += 1
    assert np.all(counts == 5) and found.repeats == 5
    np.testing.assert_allclose(found.predictions, sums / counts[:, None], rtol=1e-9, atol=1e-9)


def test_planted_flips_get_their_true_label_back():
    X, y = clusters(900, 3, seed=11, spread=0.35)
    noisy, flipped = planted(y, 45, 3)
    found = cgfast.suggest_labels(X, noisy, max_block=300)
    assert found.repeats == DEFAULT_REPEATS
    recovered = np.mean(found.suggested_label[flipped] == y[flipped])
    assert recovered >= 0.9, recovered
    # label quality ranks the flips low: most flips below every clean example's median
    clean = np.setdiff1d(np.arange(len(y)), flipped)
    assert np.median(found.label_quality[flipped]) < 0.2 < np.median(found.label_quality[clean])
    assert np.all((found.label_quality >= 0) & (found.label_quality <= 1))
    np.testing.assert_allclose(found.probabilities.sum(axis=1), 1.0)


def test_suggestions_come_in_the_labels_own_type():
    X, y = clusters(120, 3, seed=4, spread=0.3)
    names = np.array(["cat", "dog", "fox"])[y]
    found = cgfast.suggest_labels(X, list(names))
    assert found.suggested_label.dtype.kind == "U"
    assert set(found.suggested_label.tolist()) <= {"cat", "dog", "fox"}
    assert found.classes.tolist() == ["cat", "dog", "fox"]


def test_one_block_of_everything_is_the_exact_leave_one_out_prediction():
    X, y = clusters(80, 2, seed=6)
    found = cgfast.suggest_labels(X, y, repeats=4)
    assert found.repeats == 1
    F = loo_predictions(gram(X), targets(y, 2), found.ridge)
    assert np.array_equal(found.suggested_label, np.argmax(F, axis=1))


@pytest.mark.parametrize("precision", ["single", "double"])
def test_same_bits_on_any_thread_count_lane_count_and_kernel_cache(precision):
    X, y = clusters(700, 4, seed=8)
    args = dict(max_block=200, precision=precision)
    want = cgfast.suggest_labels(X, y, n_jobs=1, **args).probabilities
    for n_jobs in (2, 3):
        got = cgfast.suggest_labels(X, y, n_jobs=n_jobs, **args).probabilities
        assert np.array_equal(got, want), n_jobs
    options = Options(max_block=200, n_jobs=2, precision=precision)
    run = prepare_suggestions(X, y, options, DEFAULT_REPEATS)
    for executor in (LocalExecutor(cache=True), LocalExecutor(cache=False, lanes=1)):
        assert np.array_equal(run_suggestions(run, executor).probabilities, want)


def test_scoring_and_suggesting_together_give_what_each_gives_alone():
    X, y = clusters(600, 3, seed=9)
    noisy, _ = planted(y, 30, 3)
    both = cgfast.score(X, noisy, repeats=6, max_block=200, suggest=True)
    alone = cgfast.score(X, noisy, repeats=6, max_block=200, return_terms=True)
    assert np.array_equal(both.score, alone.score)
    found = cgfast.suggest_labels(X, noisy, max_block=200)
    assert np.array_equal(both.suggested_label, found.suggested_label)
    assert np.array_equal(both.label_quality, found.label_quality)
    assert alone.suggested_label is None and alone.label_quality is None
    assert [r for r, _ in both.history] == [6]


def test_a_checkpointed_rerun_reads_the_suggestion_blocks_back(tmp_path):
    X, y = clusters(500, 3, seed=10)
    first = cgfast.score(X, y, repeats=2, max_block=150, suggest=True, checkpoint=tmp_path)
    blocks = sorted((tmp_path / "suggestions" / "blocks").glob("*.npz"))
    # 4 chunks of 125: 9 predictions a row take 3 partitions of 4 blocks, each predicting 3
    assert len(blocks) == 3 * 4
    # a rerun computes nothing: damage no file, and the same bits come back
    again = cgfast.score(X, y, repeats=2, max_block=150, suggest=True, checkpoint=tmp_path)
    assert np.array_equal(first.label_quality, again.label_quality)
    with pytest.raises(ValueError, match="different run"):
        cgfast.suggest_labels(X, y, max_block=150, seed=1, checkpoint=tmp_path)


def test_a_checkpointed_block_of_all_rows_keeps_its_ridge_and_a_changed_ridge_is_caught(
    tmp_path,
):
    X, y = clusters(150, 3, seed=8, spread=1.0)
    noisy, _ = planted(y, 30, 3)
    first = cgfast.suggest_labels(X, noisy, checkpoint=tmp_path)
    assert first.ridge > 0
    (block,) = (tmp_path / "suggestions" / "blocks").glob("*.npz")
    with np.load(block) as data:
        assert float(data["shift"]) == first.ridge
        saved = dict(data)
    again = cgfast.suggest_labels(X, noisy, checkpoint=tmp_path)
    assert again.ridge == first.ridge
    assert np.array_equal(again.predictions, first.predictions)
    # a file whose ridge was changed fails its checksum: reported, and the block computed again
    np.savez(block, **{**saved, "shift": np.float64(first.ridge * 10)})
    with pytest.warns(cgfast.CheckpointWarning, match="checksum"):
        third = cgfast.suggest_labels(X, noisy, checkpoint=tmp_path)
    assert third.ridge == first.ridge
    assert np.array_equal(third.predictions, first.predictions)


def test_a_suggestion_checkpoint_of_0_2_0_is_refused_with_what_to_do(tmp_path):
    # 0.2.0 predicted every block's rows leave-one-out, in float64; its manifests (format 1)
    # name neither the plan nor the precision. Its blocks are not this plan's.
    import json

    X, y = clusters(300, 3, seed=3)
    cgfast.suggest_labels(X, y, max_block=100, precision="double", checkpoint=tmp_path)
    path = tmp_path / "suggestions" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["suggest"]["precision"], manifest["suggest"]["plan"], manifest["digest"]
    path.write_text(json.dumps({**manifest, "format": 1}))
    with pytest.raises(
        ValueError, match=f"suggest.plan 1 there, {SUGGEST_PLAN_VERSION} now"
    ) as err:
        cgfast.suggest_labels(X, y, max_block=100, precision="double", checkpoint=tmp_path)
    assert "planned by an earlier cgfast" in str(err.value)
    assert "precision" not in str(err.value)  # 0.2.0's precision reads as double


def test_bad_arguments_are_refused_before_any_work():
    X, y = clusters(50, 2)
    with pytest.raises(ValueError, match="repeats"):
        cgfast.suggest_labels(X, y, repeats=0)
    with pytest.raises(ValueError, match="rows but y has"):
        cgfast.suggest_labels(X, y[:-1])


def test_find_label_issues_reuses_an_earlier_run_or_its_table(tmp_path):
    pandas = pytest.importorskip("pandas")
    X, y = clusters(600, 3, seed=12, spread=0.45)
    noisy, flipped = planted(y, 30, 3)
    args = dict(max_block=200, seed=2)
    fresh = cgfast.find_label_issues(X, noisy, **args)  # the suggestion pass alone
    terms = cgfast.score(X, noisy, suggest=True, repeats=4, **args)
    assert np.array_equal(cgfast.find_label_issues(terms=terms), fresh)
    table = cgfast.to_table(terms, noisy)
    assert np.array_equal(cgfast.find_label_issues(terms=table), fresh)
    table.to_csv(tmp_path / "scores.csv", index=False)
    read_back = pandas.read_csv(tmp_path / "scores.csv")
    assert np.array_equal(cgfast.find_label_issues(terms=read_back), fresh)
    assert np.array_equal(cgfast.find_label_issues(terms=dict(read_back)), fresh)
    # ranked as cleanlab ranks: lowest label quality first, every flagged example once
    by_quality = cgfast.find_label_issues(terms=terms, rank_by="label_quality")
    assert sorted(by_quality.tolist()) == sorted(fresh.tolist())
    assert np.all(np.diff(terms.label_quality[by_quality]) >= 0)
    top = cgfast.find_label_issues(terms=terms, rank_by="label_quality", top=7)
    assert np.array_equal(top, np.argsort(terms.label_quality, kind="stable")[:7])
    # the table says which flagged examples keep their own label: irregular, not mislabelled
    issues = cgfast.find_label_issues(terms=read_back, return_table=True)
    assert issues["index"].tolist() == fresh.tolist()
    same = issues["suggested_label"].to_numpy() == issues["label"].to_numpy()
    assert np.array_equal(issues["kind"].to_numpy() == "irregular", same)
    assert (issues["kind"] == "mislabelled").sum() >= 0.8 * len(flipped)
    assert np.isin(issues.loc[issues["kind"] == "mislabelled", "index"], flipped).mean() > 0.8


def test_find_label_issues_says_what_is_missing():
    X, y = clusters(80, 2, seed=13)
    terms = cgfast.score(X, y, repeats=2, return_terms=True)
    with pytest.raises(ValueError, match="needs the suggestion pass"):
        cgfast.find_label_issues(terms=terms, rank_by="label_quality")
    with pytest.raises(ValueError, match="rule='confusion' needs the suggestion pass"):
        cgfast.find_label_issues(terms=terms)
    with pytest.raises(ValueError, match="rule='sign' needs the CG score"):
        cgfast.find_label_issues(suggestions=cgfast.suggest_labels(X, y), rule="sign")
    with pytest.raises(TypeError, match="takes no ratio: those are options of the score"):
        cgfast.find_label_issues(X, y, ratio=2)
    with pytest.raises(ValueError, match="rule must be one of"):
        cgfast.find_label_issues(X, y, rule="margin")
    with pytest.raises(TypeError, match="nothing is scored; do not pass X, repeats"):
        cgfast.find_label_issues(X, terms=terms, repeats=3)
    with pytest.raises(ValueError, match="rank_by"):
        cgfast.find_label_issues(terms=terms, rank_by="gap")
    with pytest.raises(ValueError, match="no score or label_issue column"):
        cgfast.find_label_issues(terms={"id": np.arange(80)})
    with pytest.raises(TypeError, match="pass X and y"):
        cgfast.find_label_issues(X)


@pytest.mark.parametrize("repeats", [2, "auto"])
def test_a_job_array_suggests_its_share_and_one_local_run_gathers_it(
    repeats, tmp_path, monkeypatch
):
    X, y = clusters(500, 3, seed=11)
    noisy, _ = planted(y, 25, 3)
    options = dict(repeats=repeats, max_block=150, seed=4)
    if repeats == "auto":
        options.update(stability=0.8, max_repeats=8)
    direct = cgfast.score(X, noisy, suggest=True, **options)
    # Submit the array until the checkpoint holds every round, as a SLURM user would.
    for _ in range(10):
        counts = [
            cgfast.score_part(X, noisy, checkpoint=tmp_path, part=p, parts=3, suggest=True,
                              **options)
            for p in range(3)
        ]  # fmt: skip
        if sum(counts) == 0:
            break
    suggestion_blocks = sorted((tmp_path / "suggestions" / "blocks").glob("*.npz"))
    # 500 rows in 4 chunks of at most 150: 9 predictions a row take 3 partitions of 4 blocks
    assert len(suggestion_blocks) == 3 * 4
    computed = []
    original = LocalExecutor.__call__

    def counting(self, run, tasks):
        computed.extend(tasks)
        return original(self, run, tasks)

    monkeypatch.setattr(LocalExecutor, "__call__", counting)
    gathered = cgfast.score(X, noisy, suggest=True, checkpoint=tmp_path, **options)
    assert computed == []  # every block, scoring and suggestion alike, read from disk
    assert np.array_equal(gathered.score, direct.score)
    assert np.array_equal(gathered.suggested_label, direct.suggested_label)
    assert np.array_equal(gathered.label_quality, direct.label_quality)


def test_cli_parts_suggest_and_the_table_comes_from_the_checkpoint(tmp_path):
    from cgfast import cli

    def run_cli(*args):
        with pytest.raises(SystemExit) as stop:
            cli.main([str(a) for a in args])
        return stop.value.code

    X, y = clusters(400, 3, seed=12)
    noisy, _ = planted(y, 20, 3)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", noisy)
    data = [tmp_path / "X.npy", tmp_path / "y.npy", "--repeats", "2", "--max-block", "120"]
    run = tmp_path / "run"
    for p in range(2):
        common = ["--no-progress", "--checkpoint", run, "--part", p, "--parts", "2"]
        assert run_cli("score", *data, *common) == 0
    # 4 chunks of at most 120: 3 partitions of 4 blocks give each row its 9 predictions
    assert len(list((run / "suggestions" / "blocks").glob("*.npz"))) == 3 * 4
    assert (
        run_cli("score", *data, "--no-progress", "--checkpoint", run, "-o", tmp_path / "a.csv") == 0
    )
    assert run_cli("score", *data, "--no-progress", "-o", tmp_path / "b.csv") == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert "suggested_label" in (tmp_path / "a.csv").read_text().splitlines()[0]
    # --no-suggest: the parts predict nothing for suggestions, the table has no such columns.
    quiet = tmp_path / "quiet"
    for p in range(2):
        common = ["--no-progress", "--checkpoint", quiet, "--part", p, "--parts", "2"]
        assert run_cli("score", *data, *common, "--no-suggest") == 0
    assert not (quiet / "suggestions").exists()
    out = tmp_path / "c.csv"
    assert (
        run_cli("score", *data, "--no-progress", "--no-suggest", "--checkpoint", quiet, "-o", out)
        == 0
    )
    assert "suggested_label" not in out.read_text().splitlines()[0]
