"""One version everywhere: Cargo.toml, pyproject.toml, the package metadata, cgfast.__version__."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

import cgfast

ROOT = Path(__file__).resolve().parent.parent


def table(path: Path, name: str) -> str:
    """The body of one `[name]` table of a TOML file, up to the next table header."""
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"^\[{re.escape(name)}\][ \t]*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert match, f"{path.name} has no [{name}] table"
    return match.group(1)


def string_value(body: str, key: str) -> str | None:
    match = re.search(rf'^{key}\s*=\s*"([^"]*)"', body, re.M)
    return match.group(1) if match else None


def test_version_is_the_package_metadata():
    assert cgfast.__version__ == version("cgfast")
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", cgfast.__version__), cgfast.__version__


# Run against an installed wheel outside the source tree (as .ci/wheels does), there is no
# Cargo.toml next to the tests; .ci/wheels checks the wheel's version against Cargo.toml itself.
needs_source = pytest.mark.skipif(
    not (ROOT / "Cargo.toml").is_file() or not (ROOT / "pyproject.toml").is_file(),
    reason="not run from a source tree",
)


@needs_source
def test_cargo_pyproject_and_metadata_agree():
    cargo = string_value(table(ROOT / "Cargo.toml", "package"), "version")
    assert cargo, "Cargo.toml has no [package] version"
    project = table(ROOT / "pyproject.toml", "project")
    static = string_value(project, "version")
    dynamic = re.search(r"^dynamic\s*=\s*\[[^\]]*\"version\"", project, re.M)
    # Either maturin takes the version from Cargo.toml, or pyproject states the same one.
    assert bool(dynamic) != bool(static), "pyproject.toml: version must be static or dynamic"
    if static:
        assert static == cargo
    assert version("cgfast") == cargo, "installed metadata is stale: reinstall (pip install -e .)"
    assert cgfast.__version__ == cargo


@needs_source
def test_changelog_has_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[?{re.escape(cgfast.__version__)}\]?", changelog, re.M), (
        f"CHANGELOG.md has no section for {cgfast.__version__}"
    )
