"""Every code example of README.md and docs/ runs: its python and bash blocks, in page order."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cgfast

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# A fenced block, and the comment line that may precede it: why it is not run, or that it needs
# a SLURM cluster. A `title="NAME"` after the language makes the block a file, written as NAME
# into the examples' folder for the blocks after it (a job script that a later block submits).
FENCE = re.compile(
    r"(?:^<!-- (?:not run: (?P<reason>[^>]*?)|(?P<slurm>needs SLURM)) -->\n)?"
    r"^```(?P<lang>[\w-]*)(?P<info>[^\n]*)\n(?P<body>.*?)^```",
    re.M | re.S,
)
TITLE = re.compile(r'\btitle="(?P<name>[^"]+)"')
RUN = ("python", "bash")
# Blocks marked <!-- needs SLURM --> run in test_slurm_examples_run, on the one-node cluster
# that .ci/slurm brings up (it sets CGFAST_SLURM=1); elsewhere they are skipped.
SLURM = os.environ.get("CGFAST_SLURM") == "1"

needs_source = pytest.mark.skipif(
    not (ROOT / "docs").is_dir() or not (ROOT / "README.md").is_file(),
    reason="not run from a source tree",
)


def blocks(page: Path, slurm: bool = False) -> list[tuple[str, str, str | None]]:
    """The (language, code, file name) of every python and bash block of a page that is meant
    to run, those that need SLURM included only with ``slurm``. A block with a file name is a
    file to write, not code to run."""
    found = []
    for match in FENCE.finditer(page.read_text(encoding="utf-8")):
        if match["lang"] in RUN and not match["reason"] and (slurm or not match["slurm"]):
            title = TITLE.search(match["info"])
            found.append((match["lang"], match["body"], title["name"] if title else None))
    return found


def needs_slurm(page: Path) -> bool:
    return any(m["slurm"] for m in FENCE.finditer(page.read_text(encoding="utf-8")))


SLURM_PAGES = [page for page in PAGES if page.is_file() and needs_slurm(page)]


def write_fixtures(folder: Path) -> None:
    """The files the examples name: small digits, as an image folder, .npy files and shards."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images[:300], digits.target[:300]
    for i, (image, label) in enumerate(zip(images, labels)):
        (folder / "digits" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 16).astype(np.uint8)).save(folder / "digits" / f"{label}/{i}.png")
    X = images.reshape(len(images), -1)
    np.save(folder / "X.npy", ((X - X.mean()) / X.std()).astype(np.float32))
    np.save(folder / "y.npy", labels)
    rng = np.random.default_rng(0)
    np.save(folder / "embeddings.npy", rng.normal(size=(240, 8, 8)).astype(np.float32))
    np.save(folder / "labels.npy", np.array(["cat", "dog", "fox"])[np.arange(240) % 3])

    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "shards").mkdir()
    embedding = rng.normal(size=(240, 8)).astype(np.float32)
    for shard in range(2):
        rows = slice(120 * shard, 120 * (shard + 1))
        table = pa.table(
            {
                "embedding": pa.array(list(embedding[rows]), pa.list_(pa.float32())),
                "label": (np.arange(240) % 3)[rows],
                "path": [f"item-{i}" for i in range(240)][rows],
            }
        )
        pq.write_table(table, folder / "shards" / f"part-{shard}.parquet")


@needs_source
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    examples = blocks(page)
    if not examples:
        pytest.skip("no examples to run")
    run_examples(page, examples, tmp_path, monkeypatch)


@needs_source
@pytest.mark.skipif(not SLURM, reason="needs a SLURM cluster: CGFAST_SLURM=1 (.ci/slurm)")
@pytest.mark.parametrize("page", SLURM_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_slurm_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page with SLURM examples, every example of it in page order, on a SLURM cluster. A
    python example waits for its jobs with no limit of its own: it fails after 180 s here."""

    def too_long(signum: int, frame: object) -> None:
        raise TimeoutError("a SLURM example ran for 180 s: are its jobs running? (squeue)")

    previous = signal.signal(signal.SIGALRM, too_long)
    try:
        run_examples(page, blocks(page, slurm=True), tmp_path, monkeypatch, limit=180)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_examples(
    page: Path,
    examples: list[tuple[str, str, str | None]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    limit: int = 0,
) -> None:
    """Runs the examples in a folder of fixtures, python blocks in one namespace, each bash
    block in a shell with the test's python first on PATH. With ``limit``, each python block
    has that many seconds before SIGALRM (the caller's handler) interrupts it."""
    write_fixtures(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    namespace: dict[str, object] = {"__name__": "__docs__"}
    printed = []
    for number, (lang, code, name) in enumerate(examples, 1):
        where = f"{page.relative_to(ROOT)}, example {number} ({lang})"
        if name is not None:
            (tmp_path / name).write_text(code, encoding="utf-8")
            (tmp_path / name).chmod(0o755)
        elif lang == "python":
            out = io.StringIO()
            signal.alarm(limit)
            with contextlib.redirect_stdout(out):
                exec(compile(code, where, "exec"), namespace)
            signal.alarm(0)
            printed.append(out.getvalue())
        else:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", code],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{where} failed:\n{code}\n{done.stderr[-3000:]}"
    if page.name == "README.md":
        # The worked example's output, as the README shows it under "Output".
        shown = page.read_text(encoding="utf-8").split("\nOutput", 1)[1].split("\n\n", 2)[1]
        expected = "\n".join(line[4:] for line in shown.splitlines())
        assert expected.strip() in "\n".join(printed), (expected, printed)


@needs_source
def test_skipped_examples_say_why() -> None:
    """A block is left out only by a `<!-- not run: reason -->` line, and only a few are. None
    for want of SLURM: those are marked `<!-- needs SLURM -->` and run on .ci/slurm's cluster."""
    skipped = []
    for page in PAGES:
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            if match["reason"] is not None:
                assert match["reason"].strip(), f"{page}: a skipped block without a reason"
                assert "slurm" not in match["reason"].lower(), (
                    f"{page}: mark a SLURM example <!-- needs SLURM --> (run by .ci/slurm), "
                    f"not <!-- not run: {match['reason']} -->"
                )
                skipped.append(page.name)
    assert len(skipped) <= 5, skipped


# A shell loop that goes on while (or until) a command succeeds: `until`/`while` as a command.
UNCAPPED = re.compile(r"(^\s*|[;&|]\s*|\bdo\s+)(until|while)\b", re.M)


@needs_source
def test_no_shell_example_retries_without_a_cap() -> None:
    """No shell example loops until something succeeds (`until`, `while`): an error that
    recurs would loop forever. A loop over a fixed range, with what to do when it runs out
    said beside it, instead."""
    for page in PAGES:
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            if match["lang"] in ("bash", "sh", "shell", "console"):
                assert not UNCAPPED.search(match["body"]), (
                    f"{page}: a shell example loops without a cap:\n{match['body']}"
                )


@needs_source
def test_every_public_name_is_in_the_api_reference() -> None:
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    listed = {
        line.split()[-1].split(".")[-1] for line in api.splitlines() if line.startswith(":::")
    }
    assert set(cgfast.__all__) <= listed, set(cgfast.__all__) - listed


@needs_source
def test_readme_is_short_and_its_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    command = 'pip install -e ".[test]" && cargo test --release && python -m pytest'
    assert command in readme
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "DESIGN" not in readme and "not shipped" not in readme
    assert f"dist/cgfast-{cgfast.__version__}-cp39-abi3" in readme, "the wheel's name is stale"


@needs_source
def test_readme_links_point_at_files() -> None:
    """GitHub renders the README's relative links; mkdocs checks only the site's."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
