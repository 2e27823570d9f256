"""Fixtures every test gets: caches of image folders and parquet shards in the test's own folder,
never in the user's cache folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def cache_folder(tmp_path_factory, monkeypatch):
    """``$CGFAST_CACHE`` for this test: a fresh folder, returned for tests that look into it."""
    folder = tmp_path_factory.mktemp("cgfast-cache")
    monkeypatch.setenv("CGFAST_CACHE", str(folder))
    return folder
