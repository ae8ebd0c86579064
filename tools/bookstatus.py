"""The book's status page: each chapter's execution time and result, from papermill's records.

``python tools/bookstatus.py`` reads the papermill metadata of the executed chapters in
``book/chapters/`` (written by ``make execute``) and writes ``book/chapters/status.md``.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import nbformat

from qdloc.io import atomic_write_text


def status_rows(chapters_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(Path(chapters_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        pm = nb.metadata.get("papermill")
        if pm is None:
            raise ValueError(f"{path} has no papermill metadata: run `make execute` first")
        title = next((c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), path.stem)
        rows.append({"chapter": path.stem, "title": title, "duration_s": float(pm.get("duration") or 0.0),
                     "ok": pm.get("exception") in (None, False), "end_time": pm.get("end_time", "")})
    return rows


def render(rows: list[dict]) -> str:
    total = sum(r["duration_s"] for r in rows)
    lines = [
        "# Build status",
        "",
        "Each chapter was executed by papermill at its default parameters when this book was built",
        f"(machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}).",
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
    argv = sys.argv[1:] if argv is None else argv
    chapters = Path(argv[0]) if argv else Path("book/chapters")
    try:
        rows = status_rows(chapters)
    except ValueError as exc:
        print(f"bookstatus: error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"bookstatus: error: no executed chapters in {chapters}", file=sys.stderr)
        return 2
    atomic_write_text(chapters / "status.md", render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
