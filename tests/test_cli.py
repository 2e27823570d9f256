"""The `cgfast` command line, run as a subprocess: every command, its files, its errors."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cgfast


def cgfast_cli(*args, cwd, module="cgfast.cli"):
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )


def ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5)) + np.repeat(np.eye(3, 5), 30, axis=0) * 2
    y = np.repeat([0, 1, 2], 30)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "data.npz", images=X, labels=y)
    with open(tmp_path / "table.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["f0", "f1", "f2", "f3", "f4", "label"])
        for row, label in zip(X, y):
            writer.writerow([str(float(v)) for v in row] + [["cat", "dog", "emu"][label]])
    return tmp_path, X, y


def test_score_npy_matches_the_library_and_prints_a_summary(files):
    tmp, X, y = files
    result = ok(cgfast_cli("score", "X.npy", "y.npy", "-o", "s.npy", "--repeats", "2", cwd=tmp))
    assert re.fullmatch(
        r"cgfast score: 90 examples, 6 blocks, [\d.]+ s, stability 0\.\d{3} -> s.npy",
        result.stdout.strip(),
    )
    assert "%|" not in result.stderr  # no progress bar: stderr is not a terminal
    np.testing.assert_array_equal(np.load(tmp / "s.npy"), cgfast.score(X, y, repeats=2))


def test_score_auto_repeats_prints_repeats_and_stability(files):
    tmp, X, y = files
    args = ("--max-block", "40", "--stability", "0.8", "--max-repeats", "12", "--no-progress")
    result = ok(cgfast_cli("score", "X.npy", "y.npy", "--repeats", "auto", *args, "-o", "s.npy",
                           cwd=tmp))  # fmt: skip
    found = re.fullmatch(
        r"cgfast score: 90 examples, (\d+) blocks, [\d.]+ s, (\d+) repeats, "
        r"stability (0\.\d{3}) -> s.npy",
        result.stdout.strip(),
    )
    assert found, result.stdout
    terms = cgfast.score(
        X, y, repeats="auto", max_block=40, stability=0.8, max_repeats=12, return_terms=True
    )
    assert int(found.group(2)) == terms.repeats and found.group(3) == f"{terms.stability:.3f}"
    np.testing.assert_array_equal(np.load(tmp / "s.npy"), terms.score)
    one = ("--sampler", "independent", "--repeats", "1", "--no-progress", "-o", "i.npy")
    independent = ok(cgfast_cli("score", "X.npy", "y.npy", *one, cwd=tmp))
    assert "stability" not in independent.stdout  # one repeat: nothing to estimate from
    np.testing.assert_array_equal(
        np.load(tmp / "i.npy"), cgfast.score(X, y, sampler="independent", repeats=1)
    )


def test_score_npz_keys_and_csv_columns(files):
    tmp, X, y = files
    expected = cgfast.score(X, y, ratio=0.5, seed=3)
    common = ["--ratio", "0.5", "--seed", "3", "--no-progress", "--threads", "1"]
    ok(cgfast_cli("score", "data.npz", "data.npz", "--x-key", "images", "--y-key", "labels",
                  "-o", "a.npy", *common, cwd=tmp))  # fmt: skip
    ok(cgfast_cli("score", "table.csv", "table.csv", "--y-key", "label", "-o", "b.npy",
                  *common, cwd=tmp))  # fmt: skip
    ok(cgfast_cli("score", "table.csv", "y.npy", "--x-key", "f0,f1,f2,f3,f4", "-o", "c.npy",
                  *common, cwd=tmp))  # fmt: skip
    for name in ("a.npy", "b.npy", "c.npy"):
        np.testing.assert_array_equal(np.load(tmp / name), expected)


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_score_table_summary_counts_the_flags_with_and_without_suggestions(files):
    tmp, X, y = files
    y = y.copy()
    y[[0, 31, 62]] = [1, 2, 0]  # three labels moved, so some rows are flagged
    np.save(tmp / "noisy.npy", y)
    common = ("X.npy", "noisy.npy", "--repeats", "2", "--no-progress")
    result = ok(cgfast_cli("score", *common, "-o", "s.csv", cwd=tmp))
    rows = read_rows(tmp / "s.csv")
    flagged = [row for row in rows if row["label_issue"] == "true"]
    other = [row for row in rows if row["suggested_label"] != row["label"]]
    unflagged = [row for row in other if row["label_issue"] != "true"]
    summary, act = result.stdout.strip().splitlines()
    assert 0 < len(flagged) < len(other)
    assert f"; {len(flagged)} flagged as label issues, " in summary
    assert act == (
        "Act on the rows whose label_issue is true. suggested_label is given for every row "
        f"(the most likely class): it differs from label on {len(other)} rows, "
        f"{len(unflagged)} of them not flagged as label issues."
    )
    # Without suggestions the sign rule still flags (ab > 0 needs none), and the summary says so.
    plain = ok(cgfast_cli("score", *common, "--no-suggest", "-o", "n.csv", cwd=tmp))
    signs = [row for row in read_rows(tmp / "n.csv") if row["label_issue"] == "true"]
    terms = cgfast.score(X, y, repeats=2, return_terms=True)
    assert len(signs) == int((terms.ab > 0).sum()) > 0
    assert re.fullmatch(
        rf"cgfast score: .*; {len(signs)} flagged as label issues by the score's sign rule "
        r"\(--suggest, the default, flags by the confusion rule and suggests a label for every "
        r"example\) -> n\.csv",
        plain.stdout.strip(),
    )
    # A .npy carries no flags: its summary counts none.
    assert "flagged" not in ok(cgfast_cli("score", *common, "-o", "s.npy", cwd=tmp)).stdout


def test_score_parquet(files):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    tmp, X, y = files
    columns = {f"f{j}": X[:, j] for j in range(X.shape[1])}
    pq.write_table(pa.table({**columns, "label": y}), tmp / "t.parquet")
    ok(cgfast_cli("score", "t.parquet", "t.parquet", "--y-key", "label", "-o", "p.npy",
                  "--no-progress", cwd=tmp))  # fmt: skip
    np.testing.assert_array_equal(np.load(tmp / "p.npy"), cgfast.score(X, y))


def test_score_terms_checkpoint_and_precision_pass_through(files):
    tmp, X, y = files
    ok(cgfast_cli("score", "X.npy", "y.npy", "--terms", "-o", "t.npz", "--no-progress",
                  "--checkpoint", "ckpt", "--precision", "double", cwd=tmp))  # fmt: skip
    with np.load(tmp / "t.npz") as parts:
        assert sorted(parts.files) == ["a2", "ab", "b2", "score"]
        np.testing.assert_allclose(parts["a2"] + 2 * parts["ab"] + parts["b2"], parts["score"])
        np.testing.assert_array_equal(parts["score"], cgfast.score(X, y, precision="double"))
    assert (tmp / "ckpt").is_dir() and any((tmp / "ckpt").iterdir())


def test_report_with_and_without_scores(files):
    pytest.importorskip("matplotlib")
    tmp, X, y = files
    np.save(tmp / "s.npy", cgfast.score(X, y))
    ok(cgfast_cli("report", "X.npy", "y.npy", "--scores", "s.npy", "-o", "r.html", cwd=tmp))
    ok(cgfast_cli("report", "X.npy", "y.npy", "--repeats", "2", "--no-progress", "-o", "q.html",
                  cwd=tmp))  # fmt: skip
    for name in ("r.html", "q.html"):
        page = (tmp / name).read_text()
        assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "repeats" in (tmp / "q.html").read_text()


def test_demo_finds_the_flipped_labels(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    result = ok(cgfast_cli("demo", "-o", "demo.html", cwd=tmp_path))
    auroc, random_auroc = map(
        float, re.search(r"AUROC\s+([\d.]+)\s+([\d.]+)", result.stdout).groups()
    )
    top = re.search(r"precision among top 180\s+([\d.]+)\s+([\d.]+)", result.stdout)
    assert auroc >= 0.98 and random_auroc == 0.5
    assert float(top.group(1)) >= 0.85 and float(top.group(2)) == 0.1
    restored = re.search(r"true one for (\d+) of the 180 flipped", result.stdout)
    assert int(restored.group(1)) >= 0.9 * 180
    assert "Suspects to review" in (tmp_path / "demo.html").read_text()
    assert (tmp_path / "demo.html").stat().st_size > 10_000


def test_job_array_parts_then_assemble(files):
    tmp, X, y = files
    for part in (0, 1, 2):
        result = ok(
            cgfast_cli(
                "score", "X.npy", "y.npy", "--max-block", "40", "--repeats", "1",
                "--checkpoint", "run", "--part", part, "--parts", 3, "--no-progress", cwd=tmp,
            )
        )  # fmt: skip
        # 3 chunks of at most 40 rows: a block predicts the other 2, so each row's 9
        # predictions take 5 partitions (2, 2, 2, 2 and 1 chunks a block) of 3 blocks
        assert re.fullmatch(
            rf"cgfast score: part {part} of 3: \d+ of \d+ blocks; \d+ of {5 * 3} "
            r"suggestion blocks, "
            r"[\d.]+ s -> run",
            result.stdout.strip(),
        )
    ok(cgfast_cli("assemble", "run", "-o", "s.npy", cwd=tmp))
    ok(cgfast_cli("assemble", "run", "--terms", "-o", "t.npz", cwd=tmp))
    np.testing.assert_array_equal(
        np.load(tmp / "s.npy"), cgfast.score(X, y, max_block=40, repeats=1)
    )
    assert np.array_equal(np.load(tmp / "t.npz")["score"], np.load(tmp / "s.npy"))


def test_assemble_names_the_missing_part(files):
    tmp, X, y = files
    args = ("score", "X.npy", "y.npy", "--max-block", "40", "--checkpoint", "run", "--parts", 2)
    ok(cgfast_cli(*args, "--part", 1, cwd=tmp))
    result = cgfast_cli("assemble", "run", "-o", "s.npy", cwd=tmp)
    assert result.returncode == 2
    assert "blocks are missing" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp / "s.npy").exists()


@pytest.mark.parametrize("command", [[], ["score"], ["prune"], ["report"], ["demo"], ["assemble"]])
def test_help_has_examples(tmp_path, command):
    result = ok(cgfast_cli(*command, "--help", cwd=tmp_path))
    assert "Examples:" in result.stdout
    assert f"cgfast {command[0]}" in result.stdout if command else "cgfast demo" in result.stdout


def test_python_dash_m_cgfast(tmp_path):
    result = ok(cgfast_cli("--version", cwd=tmp_path, module="cgfast"))
    assert cgfast.__version__ in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["score", "missing.npy", "y.npy", "-o", "s.npy"], "does not exist"),
        (["score", "X.npy", "y.npy"], "Missing option '-o'"),
        (["score", "X.npy", "y.npy", "-o", "s.npy", "--ratio", "-1"], "--ratio"),
        (["score", "X.npy", "y.npy", "-o", "s.npy", "--repeats", "0"], "--repeats"),
        (["score", "X.npy", "y.npy", "-o", "s.npy", "--repeats", "many"], "--repeats"),
        (["score", "X.npy", "y.npy", "-o", "s.npy", "--stability", "1"], "--stability"),
        (["score", "X.npy", "y.npy", "-o", "s.npy", "--sampler", "best"], "--sampler"),
        (["score", "X.npy", "y.npy", "-o", "s.npy", "--precision", "half"], "--precision"),
        (["score", "X.npy", "y.npy", "-o", "s.npy", "--terms"], "--terms"),
        (["score", "garbage.npy", "y.npy", "-o", "s.npy"], "not a .npy file"),
        (["score", "X.npy", "short.npy", "-o", "s.npy"], "90 rows but y has 5 labels"),
        (["score", "X.npy", "X.npy", "-o", "s.npy"], "one label per example"),
        (["score", "X.npy", "y.npy", "-o", "nowhere/s.npy"], "does not exist"),
        (["score", "table.csv", "table.csv", "-o", "s.npy"], "--y-key"),
        (["score", "table.csv", "y.npy", "-o", "s.npy"], "not numeric"),
        (["score", "data.npz", "data.npz", "-o", "s.npy"], "--y-key"),
        (["score", "data.npz", "data.npz", "--y-key", "labels", "-o", "s.npy"], "--x-key"),
        (["score", "X.txt", "y.npy", "-o", "s.npy"], ".npy, .npz, .csv or .parquet"),
        (
            ["score", "X.npy", "y.npy", "-o", "s.npy", "--ratio", "all", "--max-block", "50"],
            "max_block",
        ),  # fmt: skip
        (["prune", "s.npy", "y.npy", "--keep", "0", "-o", "k.npy"], "--keep"),
        (["prune", "s.npy", "y.npy", "--keep", "0.5", "--drop", "x", "-o", "k.npy"], "--drop"),
        (["prune", "s.npy", "short.npy", "--keep", "0.5", "-o", "k.npy"], "labels"),
        (
            ["report", "X.npy", "y.npy", "--scores", "s.npy", "--ratio", "2", "-o", "r.html"],
            "--ratio",
        ),  # fmt: skip
        (
            ["report", "X.npy", "y.npy", "--scores", "s.npy", "--shape", "7x7", "-o", "r.html"],
            "image shape",
        ),  # fmt: skip
        (["demo", "--noise", "2"], "--noise"),
        (["score", "X.npy", "y.npy", "--part", "0", "--parts", "2"], "--checkpoint"),
        (["score", "X.npy", "y.npy", "--part", "2", "--parts", "2", "--checkpoint", "c"], "below"),
        (["score", "X.npy", "y.npy", "--part", "0", "-o", "s.npy"], "go together"),
        (["assemble", "X.npy", "-o", "s.npy"], "Directory"),
        (["assemble", ".", "-o", "s.npy"], "not a cgfast checkpoint"),
        (["frobnicate"], "No such command"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(files, args, message):
    tmp, X, y = files
    np.save(tmp / "s.npy", np.zeros(90))
    np.save(tmp / "short.npy", y[:5])
    (tmp / "garbage.npy").write_bytes(b"not an array")
    (tmp / "X.txt").write_text("1 2 3\n")
    result = cgfast_cli(*args, cwd=tmp)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "error:" in lines[0] and message in lines[0]
    assert not (tmp / "s.npy").exists() or np.load(tmp / "s.npy").shape == (90,)


def test_scripts_entry_point_exists():
    script = Path(sys.executable).with_name("cgfast")
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (package not installed)")
    result = ok(subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60))
    assert "score" in result.stdout
