"""The package's form, as contracts: layers, short functions, thin chapters, one version.

Issue 10 asks that the file tree read as the method and that the layering hold by
construction. These tests check it from the source itself (and through import-linter), so a
wrong arrow, a 300-line function or a chapter that grows its own logic fails `make test`.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "qdloc"
sys.path.insert(0, str(ROOT))
from tools import api_page, chapter_stats, long_functions  # noqa: E402

#: The layers, bottom first: a module may import its own layer and the ones before it.
LAYERS = ("sim", "data", "localise", "transport", "study", "plots", "cli")
#: Modules at the top of the package that every layer may use (they import no layer).
SHARED = {"qdloc.io", "qdloc.cluster"}


def module_name(path: Path, package_dir: Path) -> str:
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def qdloc_imports(path: Path, package_dir: Path) -> set[str]:
    """Every qdloc module that ``path`` imports, at any depth (function-level imports too)."""
    name = module_name(path, package_dir)
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "qdloc"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod == "qdloc":  # `from qdloc import cli`: the names are modules or root objects
                found |= {f"qdloc.{a.name}" for a in node.names}
            elif mod.split(".")[0] == "qdloc":
                found.add(mod)
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in (*LAYERS, "eval"):
        return parts[1]
    return None


def violations(package_dir: Path) -> list[str]:
    """Imports that break the layering, as ``"importer -> imported: why"`` lines."""
    out = []
    for path in sorted(package_dir.rglob("*.py")):
        me = module_name(path, package_dir)
        mine = layer_of(me)
        for imp in sorted(qdloc_imports(path, package_dir)):
            theirs = layer_of(imp)
            if theirs == "cli" and mine != "cli" and me != "qdloc.__main__":
                out.append(f"{me} -> {imp}: only the command line imports qdloc.cli")
            elif mine == "eval" and imp != "qdloc" and theirs != "eval":
                out.append(f"{me} -> {imp}: qdloc.eval imports nothing else from qdloc")
            elif mine in LAYERS and theirs in LAYERS and LAYERS.index(theirs) > LAYERS.index(mine):
                out.append(f"{me} -> {imp}: {mine} is below {theirs}")
            elif mine is None and me in SHARED and theirs is not None:
                out.append(f"{me} -> {imp}: the shared helpers import no layer")
    return out


def test_imports_only_point_down_the_layers():
    assert violations(PACKAGE) == []


@pytest.mark.parametrize(
    ("importer", "line", "why"),
    [
        ("sim/walk.py", "from qdloc.cli import main", "only the command line"),
        ("transport/linking.py", "from qdloc.cli import main", "only the command line"),
        ("sim/psf.py", "from qdloc.data import dataset", "sim is below data"),
        ("localise/compact.py", "from qdloc.study.constants import PAPER_TEST_SETS", "localise is below study"),
        ("eval/metrics.py", "from qdloc.sim.params import SimParams", "imports nothing else"),
        ("eval/bounds.py", "from ..sim import params", "imports nothing else"),
    ],
)
def test_the_layer_check_catches_a_wrong_arrow(tmp_path, importer, line, why):
    """The checker above is not vacuous: one wrong import in a copy of the tree is reported."""
    pkg = tmp_path / "qdloc"
    for path in PACKAGE.rglob("*.py"):
        dst = pkg / path.relative_to(PACKAGE)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(path.read_text())
    target = pkg / importer
    target.write_text(target.read_text() + f"\n\ndef _wrong():\n    {line}\n")
    found = violations(pkg)
    assert len(found) == 1 and why in found[0], found


def test_import_linter_contracts_hold():
    """The same layering as import-linter contracts (pyproject.toml): `lint-imports` passes."""
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "broken" in r.stdout and " 0 broken" in r.stdout, r.stdout[-1000:]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    assert layers == [f"qdloc.{n}" for n in reversed(LAYERS)]


def test_no_function_is_over_100_lines():
    assert long_functions.long_functions(PACKAGE) == []


def test_chapters_stay_thin():
    """All chapters together: at most 900 code lines and 30 loops (tools/chapter_stats.py)."""
    stats = chapter_stats.all_stats(ROOT / "notebooks")
    assert len(stats) >= 8, stats
    lines = sum(s["code_lines"] for s in stats.values())
    loops = sum(s["loops"] for s in stats.values())
    assert lines <= chapter_stats.MAX_CODE_LINES, (lines, stats)
    assert loops <= chapter_stats.MAX_LOOPS, (loops, stats)


def test_chapter_stats_counts_code_not_prose(tmp_path):
    f = tmp_path / "01_x.py"
    f.write_text(
        "# %% [markdown]\n# for x in prose: not code\n\n"
        "# %% tags=[\"parameters\"]\nseed = 0\n\n"
        "# %%\n# a comment\nys = [x for x in range(3)]\nfor y in ys:\n    print(y)\n"
        "# %%\nglue_all({\"a\": 1,\n          \"b\": 2})\nassert ys == [0, 1, 2], (\n    ys)\nx = glue_all\n"
    )
    # the glue call (2 lines) and the assert (2 lines) are checks; `x = glue_all` is code
    assert chapter_stats.chapter_stats(f) == {"code_lines": 5, "loops": 2, "check_lines": 4}


def test_importing_the_package_changes_no_environment_variable():
    """No module sets os.environ on import (torch's thread policy is the Makefile's business)."""
    names = sorted(module_name(p, PACKAGE) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")
    code = (
        "import importlib, json, os\n"
        "before = dict(os.environ)\n"
        f"for m in {names!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_WAIT_POLICY"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {}


def test_the_version_is_written_once():
    import qdloc

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert qdloc.__version__ == version == importlib.metadata.version("qdloc")
    written = [p for p in PACKAGE.rglob("*.py") if f'"{version}"' in p.read_text() or f"'{version}'" in p.read_text()]
    assert written == []
    assert not re.search(r"^version:", (ROOT / "CITATION.cff").read_text(), re.M)


def third_party_imports(package_dir: Path) -> set[str]:
    names = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n != "qdloc" and n not in sys.stdlib_module_names}


def test_every_imported_package_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + sum(project.get("optional-dependencies", {}).values(), [])
    declared = {re.split(r"[<>=!~\[ ;]", d)[0].lower().replace("_", "-") for d in declared}
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for name in sorted(third_party_imports(PACKAGE)):
        owners = {d.lower().replace("_", "-") for d in dists.get(name, [name])}
        if not owners & declared:
            missing[name] = sorted(owners)
    assert missing == {}


def test_the_api_page_lists_every_public_module():
    """book/api.md is what tools/api_page.py writes from the package today."""
    assert (ROOT / "book" / "api.md").read_text() == api_page.render()
    text = api_page.render()
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path, PACKAGE)
        if not any(part.startswith("_") for part in name.split(".")):
            assert f".. automodule:: {name}\n" in text, name
