"""The engine's seams: executors, the options object, old checkpoints, and the package's imports."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cgfast
from cgfast import engine
from cgfast.options import Options

PACKAGE = Path(cgfast.__file__).parent
DATA = Path(__file__).parent / "data"


def data(n=120, d=7, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), np.arange(n) % classes


class ShuffledExecutor:
    """Runs the tasks in a scrambled order and hands results back in yet another one."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def __call__(self, run, tasks):
        done = [(task.index, task(run.rows)) for task in self.rng.permutation(tasks)]
        for k in self.rng.permutation(len(done)):
            yield done[k]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_executor_returning_blocks_out_of_order_gives_identical_scores(seed):
    X, y = data()
    options = Options(max_block=30, repeats=3, seed=4)
    run = engine.prepare(X, y, options)
    assert len(run.blocks) > 10
    results = engine.execute(run, ShuffledExecutor(seed))
    got = engine.assemble(results, run.rows.n, options.repeats, return_terms=False)
    assert np.array_equal(got, cgfast.score(X, y, max_block=30, repeats=3, seed=4))


def test_a_fake_executor_sees_only_the_unfinished_blocks(tmp_path):
    X, y = data()
    options = Options(max_block=30, repeats=1)
    run = engine.prepare(X, y, options, fingerprint=True)
    first = engine.execute(run, engine.LocalExecutor(), indices=[0, 2], checkpoint=tmp_path)
    assert [r is not None for r in first[:3]] == [True, False, True]
    seen = []

    def executor(run, tasks):
        seen.extend(task.index for task in tasks)
        return engine.LocalExecutor()(run, tasks)

    results = engine.execute(run, executor, checkpoint=tmp_path)
    assert 0 not in seen and 2 not in seen and sorted(seen) == seen
    got = engine.assemble(results, run.rows.n, 1, return_terms=False)
    assert np.array_equal(got, cgfast.score(X, y, max_block=30, repeats=1))


INVALID = [
    ({"ratio": 0}, ValueError, "ratio must be a positive number or 'all', got 0"),
    ({"ratio": "some"}, ValueError, "ratio must be a positive number or 'all', got 'some'"),
    ({"ratio": None}, TypeError, "ratio must be a positive number or 'all', got None"),
    ({"ratio": float("nan")}, ValueError, "ratio must be a positive number or 'all', got nan"),
    ({"repeats": 0}, ValueError, "repeats must be at least 1, got 0"),
    ({"repeats": 2.5}, TypeError, "repeats must be an integer, got 2.5"),
    ({"seed": -1}, ValueError, "seed must be at least 0, got -1"),
    (
        {"seed": True},
        TypeError,
        "seed must be an integer, None or a numpy Generator or RandomState, got True",
    ),
    ({"max_block": 1}, ValueError, "max_block must be at least 2, got 1"),
    ({"max_block": "big"}, TypeError, "max_block must be an integer, got 'big'"),
    (
        {"precision": "half"},
        ValueError,
        "precision must be one of ('single', 'double'), got 'half'",
    ),  # fmt: skip
    ({"n_jobs": 0}, ValueError, "n_jobs must be a positive integer, -1 or None, got 0"),
]


@pytest.mark.parametrize("kwargs, kind, message", INVALID)
def test_every_invalid_option_raises_the_same_error_everywhere(kwargs, kind, message):
    X, y = data()
    for call in (
        lambda: Options(**kwargs),
        lambda: cgfast.score(X, y, **kwargs),
        lambda: cgfast.find_label_issues(X, y, rule="sign", **kwargs),
    ):
        with pytest.raises(kind) as caught:
            call()
        assert str(caught.value) == message


def test_options_are_frozen_and_the_manifest_leaves_out_threads():
    options = Options(ratio=2, n_jobs=3)
    assert options.ratio == 2.0 and isinstance(options.ratio, float)
    with pytest.raises(AttributeError):
        options.seed = 3  # type: ignore[misc]
    assert "n_jobs" not in options.manifest()
    assert options.manifest() == Options(ratio=2.0).manifest()


def test_a_checkpoint_written_by_0_1_0_is_read_without_recomputing(tmp_path, monkeypatch):
    # tests/data/checkpoint-0.1.0 was written by release 0.1.0 (commit 2a3b69d):
    # cgfast.score(X.npy, y, max_block=40, repeats=2, checkpoint=run)
    src = DATA / "checkpoint-0.1.0"
    shutil.copytree(src / "run", tmp_path / "run")
    monkeypatch.setattr(engine, "score_block", pytest.fail)
    X, y = src / "X.npy", np.load(src / "y.npy")
    args = dict(max_block=40, repeats=2, checkpoint=tmp_path / "run")
    got = cgfast.score(X, y, sampler="independent", precision="double", **args)  # as in 0.1.0
    assert np.array_equal(got, np.load(src / "scores.npy"))
    with pytest.raises(ValueError, match="arguments.sampler 'independent' there, 'cover' now"):
        cgfast.score(X, y, precision="double", **args)
    with pytest.raises(ValueError, match="arguments.precision 'double' there, 'single' now"):
        cgfast.score(X, y, sampler="independent", **args)


def test_importing_cgfast_imports_no_optional_dependency():
    code = (
        "import sys, cgfast; "
        "print(' '.join(m for m in ('dask', 'distributed', 'zarr', 'pyarrow', 'matplotlib', "
        "'sklearn', 'scipy', 'pandas', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports, at any depth (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cgfast."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("cgfast."))
    return found


def test_the_package_has_no_import_cycles():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    graph = {m: _imports(PACKAGE / f"{m}.py") & modules for m in modules}
    state: dict[str, int] = {}

    def visit(module, path):
        if state.get(module) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path + [module]))
        if state.get(module) == 2:
            return
        state[module] = 1
        for other in sorted(graph[module]):
            visit(other, path + [module])
        state[module] = 2

    for module in sorted(graph):
        visit(module, [])
    assert "_dask" not in graph["engine"]


def test_the_public_signatures_default_to_the_options_defaults():
    import dataclasses
    import inspect

    defaults = {f.name: f.default for f in dataclasses.fields(Options)}
    for function in (cgfast.score,):
        for name, parameter in inspect.signature(function).parameters.items():
            if name in defaults:
                assert parameter.default == defaults[name], (function.__name__, name)


def test_a_float32_fallback_is_reported_and_kept_in_the_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 10))
    X[1] = X[0]  # an exact duplicate: float32 cannot factorise this block
    y = np.arange(200) % 2
    args = dict(precision="single", repeats=1, checkpoint=tmp_path)
    # The float64 fallback then needs the ridge for the duplicate: both are reported.
    with pytest.warns(cgfast.PrecisionWarning, match="2 of 2 block"):
        with pytest.warns(cgfast.RidgeWarning, match="2 of 2 block"):
            first = cgfast.score(X, y, **args)
    with pytest.warns(cgfast.PrecisionWarning, match="2 of 2 block"):
        with pytest.warns(cgfast.RidgeWarning, match="2 of 2 block"):
            again = cgfast.score(X, y, **args)  # read back from the checkpoint
    assert np.array_equal(first, again)
    from cgfast.checkpoint import Checkpoint

    assert Checkpoint.existing(tmp_path).load(0).fallback
