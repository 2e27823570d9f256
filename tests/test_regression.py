"""Real-valued targets (task="regression") against the plain NumPy oracle of tests/oracle.py.

Tolerances. The oracle forms each score as a difference yᵀH⁻¹y − y₋ᵢᵀH₋ᵢ⁻¹y₋ᵢ of two numbers of
the size of yᵀH⁻¹y, each good to about cond(H)·ε; cgfast gets the score without that
cancellation. On the small blocks below (Gaussian rows, d ≥ 5) the two agree to ~1e-12 of the
complexity, so a score is held to 1e-10 relative, or 1e-10 of the block's complexity where the
score itself is that small.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import oracle
import pytest

import cgfast
from cgfast import _native
from cgfast.engine import LocalExecutor
from cgfast.plan import TargetPlan
from cgfast.regression import COLUMNS

RTOL = 1e-10


def loo_residuals(H: np.ndarray, y: np.ndarray) -> np.ndarray:
    """y_i minus the kernel regressor fitted without row i, at row i (explicit re-solves)."""
    return y - oracle.loo_predictions(H, y[:, None])[:, 0]


def assert_scores(got: np.ndarray, H: np.ndarray, y: np.ndarray) -> None:
    want = oracle.loo_scores(H, y, range(len(y)))
    floor = RTOL * oracle.complexity(H, y)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=floor)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 13, 31])
def test_native_target_scores_match_leave_one_out_resolves(k):
    rng = np.random.default_rng(k)
    X = rng.normal(size=(k, 6))
    targets = np.stack([rng.normal(size=k) * 3 + 1, X[:, 0] ** 2 - X[:, 1]], axis=1)
    H = oracle.gram(X)
    out = _native.score_targets(X, targets, 1, "double")
    assert out.terms.shape == (2, 5, k) and out.ridge == 0.0 and not out.fallback
    for c in range(2):
        y = targets[:, c]
        score, a2, ab, b2, residual = out.terms[c]
        assert_scores(score, H, y)
        np.testing.assert_allclose(residual, loo_residuals(H, y), rtol=RTOL, atol=RTOL)
        want = oracle.loo_terms(H, y, range(k))
        for got, expected in zip((a2, ab, b2), want):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_native_target_scores_of_signs_are_the_label_scores_to_the_bit():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 7)).astype(np.float32)
    signs = np.where(rng.random((40, 2)) < 0.4, 1.0, -1.0)
    for precision in ("single", "double"):
        labelled = _native.score_labels(X, signs, 2, precision)
        targets = _native.score_targets(X, signs, 2, precision)
        np.testing.assert_array_equal(targets.terms[:, :4], labelled.terms)


def test_native_residuals_are_the_predictions_to_the_bit():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 5))
    y = rng.normal(size=(50, 1)) * 40 - 7
    predicted = _native.predict(X, y, 1).predictions
    residual = _native.score_targets(X, y, 1).terms[0, 4]
    np.testing.assert_array_equal(predicted[:, 0], y[:, 0] - residual)


def data(n, d=6, seed=0):
    """Gaussian rows and a smooth target of them with noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, 2 * X[:, 0] - X[:, 1] ** 2 + 0.3 * rng.normal(size=n) + 5


def standardised(y):
    return (y - y.mean()) / y.std()


@pytest.mark.parametrize("n", [2, 3, 7, 13, 31])
def test_one_block_scores_match_leave_one_out_resolves(n):
    X, y = data(n, seed=n)
    terms = cgfast.score(
        X, y, task="regression", precision="double", max_block=max(n, 2), return_terms=True
    )
    assert terms.repeats == 1 and terms.stability is None  # one block of all rows: exact
    H, z = oracle.gram(X), standardised(y)
    assert_scores(terms.score, H, z)
    # The residual, in y's units, is y minus the regressor fitted without the row.
    np.testing.assert_allclose(
        terms.residual, loo_residuals(H, z) * y.std(), rtol=RTOL, atol=RTOL * y.std()
    )


@pytest.mark.parametrize("n, max_block", [(29, 7), (31, 2), (40, 13)])
def test_blocked_scores_average_the_oracle_over_the_plan(n, max_block):
    X, y = data(n, seed=max_block)
    repeats = 3
    got = cgfast.score(X, y, task="regression", precision="double", repeats=repeats,
                       max_block=max_block, seed=4)  # fmt: skip
    z = standardised(y)
    want = np.zeros(n)
    seen = np.zeros(n, dtype=int)
    for block in TargetPlan(n, repeats=repeats, max_block=max_block, seed=4):
        rows = block.positives
        assert len(block.negatives) == 0 and len(rows) <= max_block
        want[rows] += oracle.loo_scores(oracle.gram(X[rows]), z[rows], range(len(rows)))
        seen[rows] += 1
    assert (seen == repeats).all()  # every row once per repeat
    np.testing.assert_allclose(got, want / repeats, rtol=RTOL, atol=RTOL * n)


def test_the_plan_deals_every_row_once_per_repeat_into_near_equal_blocks():
    plan = TargetPlan(1001, repeats=4, max_block=100, seed=9)
    assert plan.per == 11 and len(plan) == 44
    for r in range(4):
        blocks = plan.repeat(r)
        sizes = [b.size for b in blocks]
        assert max(sizes) - min(sizes) <= 1 and max(sizes) <= 100
        rows = np.concatenate([b.positives for b in blocks])
        assert np.array_equal(np.sort(rows), np.arange(1001))
    # A pure function of its arguments: the same blocks made in another order, or again.
    again = TargetPlan(1001, repeats=4, max_block=100, seed=9)
    for i in (43, 0, 17):
        assert np.array_equal(again[i].positives, plan[i].positives)
    other = TargetPlan(1001, repeats=4, max_block=100, seed=10)
    assert not np.array_equal(other[0].positives, plan[0].positives)
    assert len(TargetPlan(50, repeats=9, max_block=50)) == 1  # one block: one repeat


def test_offset_and_scale_of_the_target_change_nothing_but_the_residual_units():
    X, y = data(300, seed=1)
    args = dict(task="regression", precision="double", repeats=3, max_block=100,
                return_terms=True)  # fmt: skip
    base = cgfast.score(X, y, **args)
    moved = cgfast.score(X, 1000 + 7 * y, **args)
    np.testing.assert_allclose(moved.score, base.score, rtol=1e-9)
    np.testing.assert_allclose(moved.residual, 7 * base.residual, rtol=1e-9)


def test_a_corrupted_target_scores_highest():
    X, y = data(400, seed=2)
    y[[10, 200]] += [30, -30]
    terms = cgfast.score(X, y, task="regression", max_block=150, stability=0.9,
                         return_terms=True)  # fmt: skip
    assert set(np.argsort(terms.score)[-2:].tolist()) == {10, 200}
    assert terms.residual[10] > 20 and terms.residual[200] < -20
    assert terms.stability is not None and terms.repeats >= 4  # "auto" ran rounds


def test_scores_are_bit_identical_across_threads_and_lanes():
    X, y = data(500, seed=3)
    args = dict(task="regression", repeats=3, max_block=120, seed=5, return_terms=True)
    for precision in ("single", "double"):
        ref = cgfast.score(X, y, precision=precision, n_jobs=1, **args)
        for n_jobs in (2, 3):
            got = cgfast.score(X, y, precision=precision, n_jobs=n_jobs, **args)
            assert np.array_equal(got.score, ref.score) and np.array_equal(
                got.residual, ref.residual
            )
        one_lane = run_with(LocalExecutor(lanes=1), X, y, precision=precision, **args)
        assert np.array_equal(one_lane.score, ref.score)


def run_with(executor, X, y, **args):
    from cgfast.engine import prepare, score_run
    from cgfast.options import Options

    args.pop("return_terms")
    run = prepare(X, y, Options(**args))
    return score_run(run, executor)


def test_single_precision_ranks_like_double():
    X, y = data(600, d=20, seed=4)
    args = dict(task="regression", repeats=2, max_block=300, seed=1)
    single = cgfast.score(X, y, precision="single", **args)
    double = cgfast.score(X, y, precision="double", **args)
    assert spearman(single, double) > 0.9999
    np.testing.assert_allclose(single, double, rtol=0, atol=1e-3 * double.max())


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_a_checkpointed_run_resumes_with_identical_bits(tmp_path):
    X, y = data(300, seed=6)
    args = dict(task="regression", repeats=4, max_block=70, seed=2, return_terms=True)
    ref = cgfast.score(X, y, **args)
    ckpt = tmp_path / "ckpt"
    first = cgfast.score(X, y, checkpoint=ckpt, **args)
    assert np.array_equal(first.score, ref.score)
    manifest = json.loads((ckpt / "manifest.json").read_text())
    assert manifest["arguments"]["task"] == "regression"
    assert "ratio" not in manifest["arguments"]
    files = sorted((ckpt / "blocks").glob("*.npz"))
    assert len(files) == 4 * 5
    for f in files[::2]:
        f.unlink()
    again = cgfast.score(X, y, checkpoint=ckpt, **args)
    assert np.array_equal(again.score, ref.score)
    assert np.array_equal(again.residual, ref.residual)
    # Another target is another run: refused, not mixed in.
    with pytest.raises(ValueError, match="different run"):
        cgfast.score(X, y + np.arange(300) * 1e-3, checkpoint=ckpt, **args)


def test_job_array_parts_assemble_to_the_local_scores(tmp_path):
    X, y = data(300, seed=8)
    args = dict(task="regression", repeats=3, max_block=70, seed=2)
    for part in range(3):
        cgfast.score_part(X, y, checkpoint=tmp_path, part=part, parts=3, **args)
    local = cgfast.score(X, y, return_terms=True, **args)
    assembled = cgfast.assemble(tmp_path, return_terms=True)
    assert np.array_equal(assembled.score, local.score)
    assert np.array_equal(assembled.residual, local.residual)


@pytest.mark.parametrize(
    "y, error, match",
    [
        (np.r_[1.0, np.nan, 2.0, 3.0], ValueError, r"non-finite target \(nan\) at index 1"),
        (np.r_[1.0, 2.0, np.inf, 3.0], ValueError, r"non-finite target \(inf\) at index 2"),
        (np.full(4, 2.5), ValueError, "y is constant"),
        (np.array([0.3, 0.1 * 3, 0.3, 0.1 * 3]), ValueError, "y is constant to within rounding"),
        (np.r_[1e300, -1e300, 0.0, 1.0], ValueError, "overflows float64"),
        (np.array(["a", "b", "c", "d"]), TypeError, "real-valued targets"),
        (np.ones((4, 2)), ValueError, "one target per example"),
        (np.arange(3.0), ValueError, "X has 4 rows but y has 3 targets"),
    ],
)
def test_bad_targets_are_refused_before_any_work(y, error, match, monkeypatch):
    monkeypatch.setattr(_native, "score_targets", lambda *a, **k: pytest.fail("scored"))
    X = np.random.default_rng(0).normal(size=(4, 3))
    with pytest.raises(error, match=match):
        cgfast.score(X, y, task="regression")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(task="regresion"), r"task must be one of \('classification', 'regression'\)"),
        (dict(task="regression", ratio=2), "ratio=2.0 draws the negatives"),
        (dict(task="regression", sampler="independent"), "sampler='independent'"),
        (dict(task="regression", suggest=True), "suggest=True suggests class labels"),
    ],
)
def test_options_that_mean_nothing_for_a_target_are_refused(kwargs, match):
    X, y = data(20)
    with pytest.raises(ValueError, match=match):
        cgfast.score(X, y, **kwargs)


def test_classification_refuses_a_real_valued_target_and_names_the_task():
    X, y = data(20)
    with pytest.raises(ValueError, match=r"task='regression'"):
        cgfast.score(X, y)


def test_cluster_scores_are_bit_identical_to_local(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    X, y = data(400, seed=9)
    X = X.astype(np.float32)
    path = tmp_path / "X.npy"
    np.save(path, X)
    args = dict(task="regression", repeats=2, max_block=90, seed=3, return_terms=True)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, protocol="tcp",
    )  # fmt: skip
    with cluster, distributed.Client(cluster) as client:
        for precision in ("single", "double"):
            local = cgfast.score(X, y, precision=precision, **args)
            remote = cgfast.score(str(path), y, client=client, precision=precision, **args)
            assert np.array_equal(remote.score, local.score)
            assert np.array_equal(remote.residual, local.residual)


def test_the_default_blocks_are_half_the_rows_up_to_512():
    from cgfast.engine import prepare
    from cgfast.options import Options

    for n, largest in [(9, 5), (300, 150), (5000, 512)]:
        X, y = data(n, seed=n)
        run = prepare(X, y, Options(task="regression"))
        assert run.options.max_block == largest
        assert max(b.size for b in run.blocks.repeat(0)) <= largest


def test_robust_z_and_the_rule():
    from cgfast.regression import BOUND, robust_z, target_issues

    r = np.r_[np.linspace(-1, 1, 99), 50.0]
    z = robust_z(r)
    mad = np.median(np.abs(r - np.median(r)))
    np.testing.assert_allclose(z, np.abs(r - np.median(r)) / (1.482602218505602 * mad))
    assert target_issues(r).tolist() == [False] * 99 + [True] and BOUND == 3.5
    # More than half equal: the mean absolute deviation stands in for the MAD.
    r = np.r_[np.zeros(60), np.linspace(1, 2, 39), 40.0]
    assert robust_z(r)[-1] > 3.5 and np.isfinite(robust_z(r)).all()
    assert not robust_z(np.ones(5)).any()


def test_find_target_issues_flags_the_corrupted_rows():
    X, y = data(500, seed=11)
    bad = [3, 77, 250, 499]
    y[bad] += np.r_[12.0, -12.0, 15.0, -9.0]
    found = cgfast.find_target_issues(X, y)
    assert set(bad) <= set(found.tolist()) and len(found) <= 12
    terms = cgfast.score(X, y, task="regression", return_terms=True)
    assert np.array_equal(cgfast.find_target_issues(terms=terms), found)  # same defaults
    z = cgfast.regression.robust_z(terms.residual)
    assert (np.diff(z[found]) <= 0).all()  # most suspicious first
    assert np.array_equal(cgfast.find_target_issues(terms=terms, top=3), found[:3])
    table = cgfast.find_target_issues(y=y, terms=terms, return_table=True)
    assert table["index"].tolist() == found.tolist()
    np.testing.assert_allclose(table["prediction"], y[found] - terms.residual[found])
    with pytest.raises(TypeError, match="task="):
        cgfast.find_target_issues(terms=cgfast.score(X, y > 5, return_terms=True))
    with pytest.raises(TypeError, match="sets task itself"):
        cgfast.find_target_issues(X, y, task="regression")


def test_the_score_table_of_a_regression_run():
    X, y = data(120, seed=12)
    terms = cgfast.score(X, y, task="regression", return_terms=True)
    table = cgfast.to_table(terms, y, ids=[f"r{i}" for i in range(120)])
    assert list(table.columns) == ["id", "target", "score", "residual", "target_issue",
                                   "stability"]  # fmt: skip
    np.testing.assert_array_equal(table["residual"], terms.residual)
    np.testing.assert_array_equal(table["target"], y)
    assert table["id"][5] == "r5"
    flagged = np.flatnonzero(table["target_issue"])
    assert sorted(flagged.tolist()) == sorted(cgfast.find_target_issues(terms=terms).tolist())


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cgfast.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_command_line_scores_a_target_and_writes_its_table(tmp_path):
    X, y = data(200, seed=13)
    y[7] += 25
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    args = ["score", "X.npy", "y.npy", "--no-progress"]
    result = cli(*args, "--task", "regression", "-o", "scores.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "flagged as target issues" in result.stdout
    table = np.genfromtxt(tmp_path / "scores.csv", delimiter=",", names=True, dtype=None,
                          encoding="utf-8")  # fmt: skip
    assert table.dtype.names == COLUMNS
    terms = cgfast.score(X, y, task="regression", return_terms=True)
    np.testing.assert_array_equal(table["residual"], terms.residual)
    flagged = cgfast.find_target_issues(terms=terms)
    assert table["target_issue"][7] and table["target_issue"].sum() == len(flagged)
    refused = cli(*args, "-o", "c.csv", cwd=tmp_path)
    assert refused.returncode != 0 and "task='regression'" in refused.stderr
    report = cli("report", "X.npy", "y.npy", "--task", "regression", "-o", "r.html", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "Target issues to review" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_score_table_of_a_target():
    X, y = data(80, seed=14)
    table = cgfast.score_table(X, y, task="regression", repeats=2)
    assert list(table.columns) == list(COLUMNS)
