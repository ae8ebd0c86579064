"""Folders written atomically: built in a hidden sibling, then renamed into place.

A data set (:mod:`qdloc.data.dataset`) or movie set (:mod:`qdloc.data.movieset`)
is written into a temporary folder ``.NAME.tmp-PID-HOST-XXXXXXXX`` next to its
target, flushed to disk, and renamed to ``NAME`` only when complete, so that a
reader never sees half a set. Replacing an existing set needs ``force`` and is
refused for a folder that is not a set of the same format (it may hold anything).
Temporary folders left by processes of this host that no longer run are removed
before a new set is written.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PARAMS", "host_tag", "clean_stale", "fsync_dir", "temp_dir", "is_set_of_format",
           "check_target", "install", "atomic_dir"]

#: The file of a set that names its format (``{"format": ...}``).
PARAMS = "params.json"

_TEMP_RE = re.compile(r"\.(?:tmp|old)-(\d+)-([0-9a-f]{8})-")


def host_tag() -> str:
    """Eight hex digits of this host's name (part of the temporary folders' names)."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists
        return True
    return True


def clean_stale(out: Path) -> None:
    """Remove temporary folders of ``out`` left by processes of this host that no longer run.

    Parameters
    ----------
    out : Path
        The target folder whose hidden siblings are looked at.
    """
    if os.name != "posix":  # os.kill(pid, 0) would not be a harmless probe
        return
    host = host_tag()
    for p in out.parent.glob(f".{glob.escape(out.name)}.*-*-*-*"):
        m = _TEMP_RE.match(p.name[len(out.name) + 1 :])
        if (
            m
            and m.group(2) == host
            and int(m.group(1)) != os.getpid()
            and not _pid_alive(int(m.group(1)))
        ):
            shutil.rmtree(p, ignore_errors=True)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk (POSIX; nothing elsewhere).

    Parameters
    ----------
    path : Path
        The folder.
    """
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_dir(out: Path, kind: str) -> Path:
    """A new hidden sibling ``.NAME.KIND-PID-HOST-XXXXXXXX`` of ``out``.

    Made with ``os.mkdir`` (mode 0o777 less the umask), not ``tempfile.mkdtemp``
    (mode 0o700), so that the finished set has the usual permissions.

    Parameters
    ----------
    out : Path
        The target folder.
    kind : {"tmp", "old"}
        ``tmp``: a set being written; ``old``: a replaced set being removed.

    Returns
    -------
    Path
        The new, empty folder.
    """
    while True:
        tag = secrets.token_hex(4)
        path = out.parent / f".{out.name}.{kind}-{os.getpid()}-{host_tag()}-{tag}"
        try:
            path.mkdir()
        except FileExistsError:  # pragma: no cover - 1 in 4 billion
            continue
        return path


def is_set_of_format(path: Path, fmt: str) -> bool:
    """Whether ``path/params.json`` says ``"format": fmt``.

    Parameters
    ----------
    path : Path
        A folder.
    fmt : str
        The format name.

    Returns
    -------
    bool
    """
    try:
        return json.loads((path / PARAMS).read_text()).get("format") == fmt
    except (OSError, ValueError, AttributeError):
        return False


def check_target(out: Path, force: bool, fmt: str, what: str) -> None:
    """Raise if ``out`` may not be (re)placed by a new set of format ``fmt``.

    Parameters
    ----------
    out : Path
        The target folder.
    force : bool
        Whether a set of the same format there may be replaced.
    fmt : str
        The format of the new set (``params.json``'s ``format``).
    what : str
        The kind of set, for the messages (``"dataset"``, ``"movie set"``).

    Raises
    ------
    FileExistsError
        When ``out`` is a file or a link, a non-empty folder without ``force``, or a
        non-empty folder that is not a set of format ``fmt`` (even with ``force``).
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise FileExistsError(f"{out} exists and is not a folder; refusing to replace it")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} already exists; use force=True (--force) to replace it")
        if not is_set_of_format(out, fmt):
            raise FileExistsError(
                f"{out} exists and is not a qdloc {what} (no params.json of format {fmt!r}); "
                "refusing to replace it, even with force"
            )


def install(tmp: Path, out: Path, force: bool, fmt: str, what: str) -> None:
    """Rename the finished folder ``tmp`` to ``out``, replacing what :func:`check_target` allows.

    Parameters
    ----------
    tmp : Path
        The complete new set (a :func:`temp_dir`).
    out, force, fmt, what
        As for :func:`check_target`, which is asked again just before the rename.
    """
    check_target(out, force, fmt, what)
    if out.is_dir() and any(out.iterdir()):
        old = temp_dir(out, "old")
        os.replace(out, old / "set")
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            out.rmdir()
        os.rename(tmp, out)
    fsync_dir(out.parent)


@contextlib.contextmanager
def atomic_dir(out: Path, force: bool, fmt: str, what: str) -> Iterator[Path]:
    """Write a set into a temporary folder; on success put it at ``out``, on any error remove it.

    Parameters
    ----------
    out : Path
        The target folder (its parent is created).
    force, fmt, what
        As for :func:`check_target` (checked before anything is written).

    Yields
    ------
    Path
        The temporary folder to fill. The caller flushes the files it writes; the
        folder itself is flushed here before the rename.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    check_target(out, force, fmt, what)
    clean_stale(out)
    tmp = temp_dir(out, "tmp")
    try:
        yield tmp
        fsync_dir(tmp)
        install(tmp, out, force, fmt, what)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
