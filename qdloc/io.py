"""Atomic file writing: a reader never sees a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "write_results"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_results(results_dir: str | Path, name: str, results: dict, *, sort_keys: bool = False) -> Path:
    """Write a chapter's results file ``results_dir/name`` (JSON, indent 2) atomically.

    The one way the chapters and studies write their numbers: the folder is created when
    missing, the file appears only complete, and the text ends with a newline.

    Parameters
    ----------
    results_dir : path
        Folder of the results files (the chapters' ``results_dir`` parameter).
    name : str
        File name, e.g. ``"01_scanner_timing.json"``.
    results : dict
        JSON-serialisable numbers.
    sort_keys : bool
        Sort the keys of every object (as some chapters' files are).

    Returns
    -------
    Path
        The file written.
    """
    path = Path(results_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(results, indent=2, sort_keys=sort_keys) + "\n")
