"""Write ``book/api.md``, the API reference: one ``automodule`` per public module of qdloc.

``python tools/api_page.py`` rewrites the page from the package's folders (in the order of the
layers), so a new module is never missing from the book; tests/test_layout.py checks that the
page on disk is what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "api.md"
#: The layers, bottom first (the order of the page), with what each holds.
LAYERS: tuple[tuple[str, str], ...] = (
    ("qdloc.sim", "the microscope and the dot (chapters 01-03)"),
    ("qdloc.data", "sets and movie sets on disk (chapter 04)"),
    ("qdloc.eval", "how a localiser is judged (chapter 06)"),
    ("qdloc.localise", "the localisers and their training (chapter 05)"),
    ("qdloc.transport", "from positions to transport (chapter 07)"),
    ("qdloc.study", "the paper's study and the chapters' experiments"),
    ("qdloc.plots", "the figures, one module per chapter"),
    ("qdloc.cli", "the `qdloc` command"),
)


def modules(package: str) -> list[str]:
    """The public modules of ``package`` (its ``__init__`` first, then ``*.py`` not starting with ``_``)."""
    folder = ROOT / package.replace(".", "/")
    subs = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    return [package] + [f"{package}.{s}" for s in subs]


def render() -> str:
    """The text of the API page."""
    out = [
        "# API reference",
        "",
        "Every public module of the `qdloc` package, layer by layer, from its numpydoc docstrings.",
        "Imports only point down this page: each layer uses the ones above it here, never one below",
        "(`qdloc.eval` uses none; the contracts are in `pyproject.toml` and run in `make test`).",
        "This page is written by `tools/api_page.py`.",
        "",
        "## The package",
        "",
    ]
    # the root's names (SimParams, simulate, ...) are documented where they live, once
    out += ["```{eval-rst}", ".. automodule:: qdloc", "```", ""]
    out += _automodule("qdloc.io") + _automodule("qdloc.cluster")
    for package, what in LAYERS:
        out += [f"## `{package}`: {what}", ""]
        for mod in modules(package):
            out += _automodule(mod)
    return "\n".join(out).rstrip("\n") + "\n"


def _automodule(mod: str) -> list[str]:
    return ["```{eval-rst}", f".. automodule:: {mod}", "   :members:", "```", ""]


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--check"]:
        ok = PAGE.exists() and PAGE.read_text() == text
        print("book/api.md is up to date" if ok else "book/api.md is stale: run python tools/api_page.py")
        return 0 if ok else 1
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
