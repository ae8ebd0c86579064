"""The book's status page: each chapter's execution time and result.

``python tools/bookstatus.py [book/chapters]`` reads the papermill metadata of the executed
chapters (written by ``make execute``) and writes ``status.md`` beside them.

``python tools/bookstatus.py --stored DIR`` is for ``make preview``, which executes nothing: the
chapters in ``DIR`` are copies of ``notebooks/*.ipynb`` with their stored outputs (written by
``make outputs``, checked by nbval in ``make test``), and the page gives the time and result of
that stored execution, from the cells' own execution records.
"""

from __future__ import annotations

import platform
import sys
from datetime import datetime
from pathlib import Path

import nbformat

from qdloc.io import atomic_write_text


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


def status_rows(chapters_dir: Path, stored: bool = False) -> list[dict]:
    """One row per chapter ``NN_*.ipynb`` of ``chapters_dir``: title, duration, result, end time.

    Parameters
    ----------
    chapters_dir : Path
        Folder of the chapters.
    stored : bool
        False: papermill's records (``make execute``); True: the cells' records of the stored
        outputs (``make preview``).

    Returns
    -------
    list of dict
        Keys ``chapter``, ``title``, ``duration_s``, ``ok``, ``end_time``.
    """
    rows = []
    for path in sorted(Path(chapters_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        row = _stored_row(nb, path) if stored else _papermill_row(nb, path)
        rows.append({"chapter": path.stem, "title": _title(nb, path), **row})
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
            f"Python {platform.python_version()}).",
        ]
    lines = [
        "# Build status",
        "",
        *intro,
        "",
        "| chapter | execution time (s) | result | finished (UTC) |",
        "|---|---:|---|---|",
    ]
    for r in rows:
        lines.append(f"| [{r['title']}]({r['chapter']}.ipynb) | {r['duration_s']:.1f} | "
                     f"{'ok' if r['ok'] else 'FAILED'} | {r['end_time'][:19].replace('T', ' ')} |")
    lines += ["", f"Total: {total:.1f} s for {len(rows)} chapters.", ""]
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
    atomic_write_text(chapters / "status.md", render(rows, stored=stored))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
