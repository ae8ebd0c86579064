"""Atomic writes: all or nothing, usual permissions."""

import os
import stat

import pytest

from qdloc.io import atomic_write_bytes, atomic_write_text


def test_writes_and_replaces(tmp_path):
    f = tmp_path / "sub" / "a.txt"
    atomic_write_text(f, "one")
    atomic_write_text(f, "two")
    assert f.read_text() == "two"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~mask


def test_failure_leaves_old_file_and_no_temporary(tmp_path):
    f = tmp_path / "a.bin"
    atomic_write_bytes(f, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(f, "not bytes")  # fails inside the write
    assert f.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
