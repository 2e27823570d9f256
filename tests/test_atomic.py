"""Files appear whole or not at all, with the permissions open() would give."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from cgfast._atomic import atomic_file, file_mode, write_atomic


def test_a_complete_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    write_atomic(target, lambda handle: handle.write(b"new contents"))
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    assert stat.S_IMODE(target.stat().st_mode) == file_mode()


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def half_then_fail(handle):
        handle.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_writer_given_the_name_may_replace_the_file(tmp_path):
    target = tmp_path / "table.npy"
    with atomic_file(target, ".npy") as (_, temporary):
        assert temporary.suffix == ".npy" and temporary.parent == tmp_path
        os.unlink(temporary)  # as a writer that writes a new file under the name would
        np.save(temporary, np.arange(5))
    assert np.array_equal(np.load(target), np.arange(5))
    assert [p.name for p in tmp_path.iterdir()] == ["table.npy"]
