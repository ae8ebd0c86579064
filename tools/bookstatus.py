"""The book's status page: each chapter's execution time, result, and the cells nbval ignores.

``python tools/bookstatus.py [book/chapters]`` reads the papermill metadata of the executed
chapters (written by ``make execute``) and writes ``status.md`` beside them. Beside this
build's time it gives the time of the stored execution (``notebooks/*.ipynb``, made by
``make outputs``), which is the one source of run times quoted in prose: :func:`run_time_s`.

``python tools/bookstatus.py --stored DIR`` is for ``make preview``, which executes nothing: the
chapters in ``DIR`` are copies of ``notebooks/*.ipynb`` with their stored outputs (written by
``make outputs``, checked by nbval in ``make test``), and the page gives the time and result of
that stored execution, from the cells' own execution records.

For each chapter the page also counts its code cells and those whose output nbval does not
check (``# NBVAL_IGNORE_OUTPUT``, or the tag ``nbval-ignore-output``) or that it does not run
at all (``# NBVAL_SKIP``, ``nbval-skip``): what the test of stored outputs leaves out. The
markers are read as nbval reads them (a comment line of its own, or a cell tag; a later
``NBVAL_CHECK_OUTPUT`` checks the cell again), without importing nbval, which the preview's
environment does not have.
"""

from __future__ import annotations

import platform
import sys
from datetime import datetime
from pathlib import Path

import nbformat

from qdloc.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
#: The stored chapters: their execution records are the run times that prose quotes.
NOTEBOOKS = ROOT / "notebooks"
#: nbval's markers (nbval.plugin.comment_markers, and the tags made from them) -> (option, value)
NBVAL_MARKERS = {
    "PYTEST_VALIDATE_IGNORE_OUTPUT": ("check", False),
    "NBVAL_IGNORE_OUTPUT": ("check", False),
    "NBVAL_CHECK_OUTPUT": ("check", True),
    "NBVAL_RAISES_EXCEPTION": ("check_exception", True),
    "NBVAL_SKIP": ("skip", True),
}
NBVAL_TAGS = {k.lower().replace("_", "-"): v for k, v in NBVAL_MARKERS.items()}
NBVAL_TAGS["raises-exception"] = ("check_exception", True)


def _title(nb, path: Path) -> str:
    return next((c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                 if c.cell_type == "markdown" and c.source.startswith("# ")), path.stem)


def _papermill_row(nb, path: Path) -> dict:
    pm = nb.metadata.get("papermill")
    if pm is None:
        raise ValueError(f"{path} has no papermill metadata: run `make execute` first")
    return {"duration_s": float(pm.get("duration") or 0.0),
            "ok": pm.get("exception") in (None, False), "end_time": pm.get("end_time", "")}


def _stored_row(nb, path: Path) -> dict:
    """Time and result of a notebook's stored execution, from its cells' execution records."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    records = [c.metadata.get("execution", {}) for c in code]
    start = [r["iopub.execute_input"] for r in records if "iopub.execute_input" in r]
    end = [r["shell.execute_reply"] for r in records if "shell.execute_reply" in r]
    if not start or not end:
        raise ValueError(f"{path} has no stored execution records in its code cells: "
                         "run `make outputs` first")
    t0, t1 = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (min(start), max(end)))
    failed = any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    unrun = any(c.source.strip() and c.get("execution_count") is None for c in code)
    return {"duration_s": (t1 - t0).total_seconds(), "ok": not (failed or unrun),
            "end_time": max(end)}


def nbval_options(cell) -> dict[str, bool]:
    """nbval's options for a code cell: ``check``, ``skip``, ``check_exception`` (as nbval reads them).

    Parameters
    ----------
    cell : NotebookNode
        A code cell.

    Returns
    -------
    dict
        ``check`` (outputs compared; True unless ignored), ``skip`` (not run), ``check_exception``.
    """
    options = {"check": True, "skip": False, "check_exception": False}
    tags = cell.get("metadata", {}).get("tags") or []
    options.update(NBVAL_TAGS[t] for t in tags if t in NBVAL_TAGS)
    comments = (ln.strip().lstrip("#").strip() for ln in cell.source.splitlines() if ln.strip().startswith("#"))
    options.update(NBVAL_MARKERS[c] for c in comments if c in NBVAL_MARKERS)
    return options


def nbval_counts(nb) -> dict[str, int]:
    """Code cells of a notebook, and how many of them nbval skips or does not check.

    Parameters
    ----------
    nb : NotebookNode
        The notebook.

    Returns
    -------
    dict
        ``code_cells``; ``skipped`` (``NBVAL_SKIP``: not run under nbval); ``ignored``
        (``NBVAL_IGNORE_OUTPUT``: run, output not compared; skipped cells not counted again).
    """
    options = [nbval_options(c) for c in nb.cells if c.cell_type == "code"]
    return {"code_cells": len(options), "skipped": sum(o["skip"] for o in options),
            "ignored": sum(not o["check"] and not o["skip"] for o in options)}


def run_time_s(chapter: str, notebooks: Path = NOTEBOOKS) -> float:
    """A chapter's measured run time: its stored execution in ``notebooks/NN_name.ipynb``, in s.

    The one source for run times quoted in prose: the status page shows the same number (the
    column "stored execution"). It is the time of the execution whose outputs are stored
    (``make outputs`` or ``jupytext --sync --execute``), from the cells' records: first cell
    started to last cell finished.

    Parameters
    ----------
    chapter : str
        The chapter's stem (``"07_tracking"``) or its two-digit number (``"07"``).
    notebooks : Path
        Folder of the stored chapters.

    Returns
    -------
    float
        Seconds.
    """
    matches = sorted(Path(notebooks).glob(f"{chapter}.ipynb") if "_" in chapter
                     else Path(notebooks).glob(f"{chapter}_*.ipynb"))
    if len(matches) != 1:
        raise ValueError(f"chapter={chapter!r}: expected the stem or number of one chapter in {notebooks}, "
                         f"found {[m.name for m in matches]}")
    return _stored_row(nbformat.read(matches[0], as_version=4), matches[0])["duration_s"]


def status_rows(chapters_dir: Path, stored: bool = False, notebooks: Path | None = NOTEBOOKS) -> list[dict]:
    """One row per chapter ``NN_*.ipynb`` of ``chapters_dir``: title, duration, result, end time.

    Parameters
    ----------
    chapters_dir : Path
        Folder of the chapters.
    stored : bool
        False: papermill's records (``make execute``); True: the cells' records of the stored
        outputs (``make preview``).
    notebooks : Path or None
        Folder of the stored chapters (for ``stored_s`` when ``stored`` is False); None: none.

    Returns
    -------
    list of dict
        Keys ``chapter``, ``title``, ``duration_s``, ``ok``, ``end_time``, ``stored_s`` (the
        stored execution's time, :func:`run_time_s`; None where there is no stored chapter),
        and ``code_cells``, ``ignored``, ``skipped`` (:func:`nbval_counts`).
    """
    rows = []
    for path in sorted(Path(chapters_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        row = _stored_row(nb, path) if stored else _papermill_row(nb, path)
        stored_s = row["duration_s"] if stored else None
        if not stored and notebooks is not None and (Path(notebooks) / path.name).exists():
            stored_s = run_time_s(path.stem, notebooks)
        rows.append({"chapter": path.stem, "title": _title(nb, path), **row, "stored_s": stored_s,
                     **nbval_counts(nb)})
    return rows


def render(rows: list[dict], stored: bool = False) -> str:
    total = sum(r["duration_s"] for r in rows)
    if stored:
        intro = [
            "This preview of the book (`make preview`) executed nothing: each chapter shows the",
            "outputs stored in `notebooks/*.ipynb` (written by `make outputs`, checked by nbval in",
            "`make test`). The times below are those of that stored execution, from the cells'",
            "records; `make book` executes every chapter again with papermill.",
        ]
    else:
        intro = [
            "Each chapter was executed by papermill at its default parameters when this book was "
            "built",
            f"(machine: {platform.machine()}, {platform.system()}, "
            f"Python {platform.python_version()}), chapters run side by side.",
            "*Stored execution* is the time of the execution whose outputs are stored in",
            "`notebooks/*.ipynb` (`make outputs`): the run times quoted in the book come from that",
            "column.",
        ]
    stored_col = [] if stored else ["stored execution (s)"]
    head = ["chapter", "execution time (s)", "result", "finished (UTC)", *stored_col,
            "code cells", "output not checked", "not run"]
    lines = [
        "# Build status",
        "",
        *intro,
        "",
        "| " + " | ".join(head) + " |",
        "|---|---:|---|---|" + "---:|" * (len(head) - 4),
    ]
    for r in rows:
        cells = [f"[{r['title']}]({r['chapter']}.ipynb)", f"{r['duration_s']:.1f}", "ok" if r["ok"] else "FAILED",
                 r["end_time"][:19].replace("T", " ")]
        if not stored:
            cells.append("-" if r.get("stored_s") is None else f"{r['stored_s']:.1f}")
        cells += [str(r.get(k, "-")) for k in ("code_cells", "ignored", "skipped")]
        lines.append("| " + " | ".join(cells) + " |")
    ignored = sum(r.get("ignored", 0) for r in rows)
    skipped = sum(r.get("skipped", 0) for r in rows)
    lines += ["", f"Total: {total:.1f} s for {len(rows)} chapters.", "",
              f"nbval (`make test`) compares every code cell's output with the stored one, except "
              f"{ignored} cells whose output is not checked (`# NBVAL_IGNORE_OUTPUT`: plots, timings, "
              f"widgets) and {skipped} not run (`# NBVAL_SKIP`).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    stored = "--stored" in argv
    args = [a for a in argv if a != "--stored"]
    chapters = Path(args[0]) if args else Path("book/chapters")
    try:
        rows = status_rows(chapters, stored=stored)
    except ValueError as exc:
        print(f"bookstatus: error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"bookstatus: error: no executed chapters in {chapters}", file=sys.stderr)
        return 2
    page, out = render(rows, stored=stored), chapters / "status.md"
    if not out.exists() or out.read_text(encoding="utf-8") != page:  # unchanged: no new mtime for make
        atomic_write_text(out, page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
