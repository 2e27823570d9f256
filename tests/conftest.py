"""Fixtures every test gets: caches of image folders and parquet shards in the test's own folder,
never in the user's cache folder; and ``no_heavy_work``, for the tests of refusals."""

from __future__ import annotations

import pytest

from cgfast import _core


@pytest.fixture(autouse=True)
def cache_folder(tmp_path_factory, monkeypatch):
    """``$CGFAST_CACHE`` for this test: a fresh folder, returned for tests that look into it."""
    folder = tmp_path_factory.mktemp("cgfast-cache")
    monkeypatch.setenv("CGFAST_CACHE", str(folder))
    return folder


@pytest.fixture
def no_heavy_work(monkeypatch):
    """Makes every arithmetic entry point of the native core fail the test if it is reached."""

    def boom(*args, **kwargs):
        raise AssertionError("the native core was called before the input was refused")

    for name in dir(_core):
        if name.startswith(("score_block", "gram", "complexity", "profile")):
            monkeypatch.setattr(_core, name, boom)
