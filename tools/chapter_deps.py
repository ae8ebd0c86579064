"""What each chapter depends on, for make: qdloc modules (from imports), data, shipped models.

``python -m tools.chapter_deps [--out build/chapter_deps.mk]`` writes a make include file with
one rule per chapter ``notebooks/NN_name.py``::

    DEPS_NN_name := qdloc/__init__.py qdloc/sim/params.py ... data/models/compact/compact.pt
    book/chapters/NN_name.ipynb: $(DEPS_NN_name) book/chapters/MM_other.ipynb

* **Modules.** The chapter's own imports of ``qdloc`` (read with :mod:`ast` from its code
  cells, function-level imports included), followed through qdloc's own imports
  transitively. Importing ``qdloc.a.b`` runs ``qdloc/__init__.py`` and
  ``qdloc/a/__init__.py`` too, so those count; ``from qdloc.a import b`` counts ``b`` when it
  is a module. A string constant that names a qdloc module exactly (``"qdloc.localise.compact"``,
  as in the localiser registry, which imports by name) counts as an import of it.
* **Data.** A chapter that reads what another chapter writes runs after it, and again when it
  reruns: :data:`PRODUCERS` names what each producer writes, and a chapter whose code (string
  constants and names, not its prose) mentions one of those depends on the producer. Every
  chapter's own results file ``NN_name.json`` counts as written by it.
* **Shipped files.** Files under ``data/models`` or ``data/checks`` that the chapter's code names (its
  parameters cell: ``compact_model = "../data/models/compact/compact.pt"``; a folder stands
  for every file in it).

A chapter whose code does not parse (one being written) depends on every module and every
chapter before it, with a warning. Every prerequisite that is a source file also gets an empty
rule (as ``gcc -MP`` does), so that deleting a module does not stop make. Standard library
only: make runs it with the system Python before any virtual environment exists.
"""

from __future__ import annotations

import ast
import glob
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from tools.chapter_stats import code_cells

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "qdloc"
#: Where make puts the executed chapters.
EXECUTED = "book/chapters"
#: The sweep's make target (a stamp written when ``make sweep`` has finished).
SWEEP = "$(SWEEP_STAMP)"
#: What a chapter writes that another reads: producer -> tokens that, found in a reader's code
#: (inside a string constant, or as a name), mean it reads that output. The producer is a
#: chapter's stem or :data:`SWEEP`.
PRODUCERS: dict[str, tuple[str, ...]] = {
    "04_dataset_generation": ("data/paper",),  # the paper's five sets (chapter 05 trains on them)
    "06_evaluation": ("table1.json", "read_table1"),  # Table 1 (chapter 09 reads its rows)
    SWEEP: ("data/sweep",),  # runs/, results/, table.csv of `make sweep` (chapter 08's maps)
}
_MODULE_NAME = re.compile(rf"^{PACKAGE}(\.[A-Za-z_]\w*)+$")
#: Files of a model folder that are not the shipped model (training checkpoints, caches).
_NOT_SHIPPED = {"last.pt", "best.pt"}
#: Folders of ``data/`` whose files are shipped with the clone (the rest of ``data/`` is written).
SHIPPED_DIRS = ("models", "checks")


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of module ``name`` (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``), or None."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imported_names(tree: ast.AST, current: str = "", is_package: bool = False) -> set[str]:
    """Every module name that ``tree`` may import (absolute, with ``a.b`` for ``from a import b``).

    Parameters
    ----------
    tree : ast.AST
        The parsed source.
    current : str
        The module's own dotted name (resolves relative imports); "" for a script.
    is_package : bool
        Whether the source is a package's ``__init__.py``.

    Returns
    -------
    set of str
        Candidate module names, not yet checked against the files.
    """
    package = current if is_package else current.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_NAME.match(node.value):
            names.add(node.value)
    return names


def package_files(names: Iterable[str], root: Path = ROOT) -> set[Path]:
    """The files of the ``qdloc`` modules among ``names``, with their parent packages."""
    files = set()
    for name in names:
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            for part in _with_parents(name):
                path = module_file(part, root)
                if path is not None:
                    files.add(path)
    return files


def closure(files: Iterable[Path], root: Path = ROOT) -> set[Path]:
    """``files`` and every qdloc module they import, transitively.

    Parameters
    ----------
    files : iterable of Path
        Module files of the package under ``root``.
    root : Path
        The folder that holds the package folder.

    Returns
    -------
    set of Path
    """
    todo, seen = list(files), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found = imported_names(tree, _module_name(path, root), path.name == "__init__.py")
        todo.extend(package_files(found, root) - seen)
    return seen


def chapter_tree(script: Path) -> ast.Module:
    """The code cells of a jupytext percent chapter, parsed as one module (prose dropped)."""
    body = []
    for cell in code_cells(script):
        body.extend(ln for ln in cell.splitlines() if not ln.lstrip().startswith(("%", "!")))
    try:
        return ast.parse("\n".join(body), filename=str(script))
    except SyntaxError as exc:
        raise ValueError(f"{script}: its code cells do not parse as Python ({exc.msg}, line {exc.lineno})") from None


def chapter_modules(script: Path, root: Path = ROOT) -> set[Path]:
    """The qdloc module files that chapter ``script`` runs: its imports, transitively."""
    return closure(package_files(imported_names(chapter_tree(script)), root), root)


def _tokens(tree: ast.AST) -> tuple[list[str], set[str]]:
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name.split(".")[-1] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return strings, names


def data_producers(script: Path, chapters: Iterable[str],
                   producers: dict[str, tuple[str, ...]] = PRODUCERS) -> list[str]:
    """The producers (chapter stems, or :data:`SWEEP`) whose outputs chapter ``script`` reads.

    Parameters
    ----------
    script : Path
        The chapter ``notebooks/NN_name.py``.
    chapters : iterable of str
        The stems of all chapters (each writes ``<stem>.json``).
    producers : dict
        Producer -> tokens (:data:`PRODUCERS`).

    Returns
    -------
    list of str
        Sorted; never the chapter itself.
    """
    strings, names = _tokens(chapter_tree(script))
    table = {stem: (f"{stem}.json",) for stem in chapters}
    for producer, tokens in producers.items():
        table[producer] = table.get(producer, ()) + tuple(tokens)
    found = {p for p, tokens in table.items()
             if any(t in names or any(t in s for s in strings) for t in tokens)}
    return sorted(found - {script.stem})


def model_files(script: Path, root: Path = ROOT) -> set[Path]:
    """Shipped files (under ``data/models`` or ``data/checks``) that the chapter's code names.

    Paths are relative to the chapter's folder: a file, a folder (all its files), or a glob
    pattern (``../data/checks/pixel_coverage_D*_s*.json``).
    """
    strings, _ = _tokens(chapter_tree(script))
    files: set[Path] = set()
    for s in strings:
        folder = next((f for f in SHIPPED_DIRS if f"data/{f}" in s), None)
        if folder is None:
            continue
        base = (root / "data" / folder).resolve()
        path = (script.parent / s).resolve()
        if path == base or base in path.parents:
            if any(ch in s for ch in "*?["):
                found = sorted(Path(p) for p in glob.glob(str(path)))
            else:
                found = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
            files.update(p for p in found if p.is_file() and p.name not in _NOT_SHIPPED
                         and "__pycache__" not in p.parts)
    return files


def chapter_rules(notebooks: Path = ROOT / "notebooks", root: Path = ROOT) -> str:
    """The make include file for every chapter ``notebooks/NN_*.py`` (see the module's doc)."""
    scripts = sorted(notebooks.glob("[0-9][0-9]_*.py"))
    stems = [s.stem for s in scripts]
    lines = ["# Written by tools/chapter_deps.py (make regenerates it): do not edit.", ""]
    sources: set[str] = set()
    for script in scripts:
        try:
            used = chapter_modules(script, root) | model_files(script, root)
            data = [p if p == SWEEP else f"{EXECUTED}/{p}.ipynb" for p in data_producers(script, stems)]
        except ValueError as exc:  # a chapter being written: it depends on everything, and says so
            print(f"chapter_deps: warning: {exc}; {script.stem} depends on every module and chapter",
                  file=sys.stderr)
            used = set((root / PACKAGE).rglob("*.py")) - set((root / PACKAGE).rglob("__pycache__/*"))
            data = [SWEEP, *(f"{EXECUTED}/{s}.ipynb" for s in stems if s < script.stem)]
        files = sorted(p.relative_to(root).as_posix() for p in used)
        sources.update(files)
        lines += [f"DEPS_{script.stem} := {' '.join(files)}",
                  f"{EXECUTED}/{script.stem}.ipynb: $(DEPS_{script.stem}){''.join(' ' + d for d in data)}", ""]
    lines.append("# every source file above, so that make does not stop when one is deleted")
    lines += [f"{s}:" for s in sorted(sources)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--out"] and len(argv) == 2:
        out = Path(argv[1])
    elif not argv:
        out = None
    else:
        print("usage: python -m tools.chapter_deps [--out FILE]", file=sys.stderr)
        return 2
    try:
        text = chapter_rules()
    except (ValueError, OSError) as exc:
        print(f"chapter_deps: error: {exc}", file=sys.stderr)
        return 2
    if out is None:
        sys.stdout.write(text)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # two makes at once (pytest -n 2) do not collide
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
