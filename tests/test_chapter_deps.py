"""tools/chapter_deps.py: per-chapter dependencies for make, derived from the imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import chapter_deps as cd  # noqa: E402


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# A fake qdloc: a chapter that uses qdloc.sim.psf must get exactly psf's transitive imports
# (absolute, relative, function-level, `from pkg import module`, a module named in a string),
# and the parent packages' __init__ files, and nothing else.
FAKE = {
    "qdloc/__init__.py": "from qdloc.sim.params import P\n",
    "qdloc/io.py": "import json\n",
    "qdloc/sim/__init__.py": "",
    "qdloc/sim/params.py": "P = 1\n",
    "qdloc/sim/psf.py": "from . import walk\nfrom .params import P\n",
    "qdloc/sim/walk.py": "def f():\n    from ..eval import metrics\n    return metrics\n",
    "qdloc/sim/unused.py": "import qdloc.localise.compact\n",
    "qdloc/eval/__init__.py": "",
    "qdloc/eval/metrics.py": "import numpy as np\n",
    "qdloc/localise/__init__.py": "",
    "qdloc/localise/registry.py": 'METHODS = {"compact": ("qdloc.localise.compact", "locate")}\n',
    "qdloc/localise/compact.py": "import torch\n",
    "qdloc/study/__init__.py": "",
    "qdloc/study/table1.py": "from qdloc.io import write\n",
}


def _chapter(root: Path, stem: str, code: str, prose: str = "") -> Path:
    text = (f"# %% [markdown]\n# {prose}\n\n# %% tags=[\"parameters\"]\nresults_dir = '../data/results'\n\n"
            f"# %%\n{code}\n")
    path = root / "notebooks" / f"{stem}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _rel(paths, root):
    return sorted(p.relative_to(root).as_posix() for p in paths)


def test_transitive_closure_is_exact(tmp_path):
    _write(tmp_path, FAKE)
    ch = _chapter(tmp_path, "01_a", "from qdloc.sim import psf\nimport numpy as np")
    assert _rel(cd.chapter_modules(ch, tmp_path), tmp_path) == [
        "qdloc/__init__.py", "qdloc/eval/__init__.py", "qdloc/eval/metrics.py", "qdloc/sim/__init__.py",
        "qdloc/sim/params.py", "qdloc/sim/psf.py", "qdloc/sim/walk.py",
    ]


def test_a_module_named_in_a_string_is_a_dependency(tmp_path):
    _write(tmp_path, FAKE)
    ch = _chapter(tmp_path, "02_b", "def g():\n    import qdloc.localise.registry as r\n    return r")
    assert "qdloc/localise/compact.py" in _rel(cd.chapter_modules(ch, tmp_path), tmp_path)


def test_prose_is_not_code(tmp_path):
    _write(tmp_path, FAKE)
    ch = _chapter(tmp_path, "03_c", "x = 1", prose="import qdloc.localise.compact; reads table1.json")
    assert _rel(cd.chapter_modules(ch, tmp_path), tmp_path) == []
    assert cd.data_producers(ch, ["03_c", "06_evaluation"]) == []


def test_data_producers_from_the_readers_code(tmp_path):
    reader = _chapter(tmp_path, "09_x", "t = cal.read_table1(Path(results_dir) / 'table1.json')\n"
                                        "r = json.load(open('../data/results/02_b.json'))")
    assert cd.data_producers(reader, ["02_b", "06_evaluation", "09_x"]) == ["02_b", "06_evaluation"]
    sweep = _chapter(tmp_path, "10_y", "sweep_dir = '../data/sweep'")
    assert cd.data_producers(sweep, ["10_y"]) == [cd.SWEEP]
    # a producer does not depend on itself
    own = _chapter(tmp_path, "06_evaluation", "p = write_table1('table1.json')")
    assert cd.data_producers(own, ["06_evaluation"]) == []


def test_model_files_named_by_the_chapter(tmp_path):
    _write(tmp_path, {"data/models/compact/compact.pt": "w", "data/models/compact/last.pt": "c",
                      "data/models/frcnn/pred.csv": "p", "data/models/frcnn/README.md": "r"})
    ch = _chapter(tmp_path, "06_e", "m = '../data/models/compact/compact.pt'\nd = '../data/models/frcnn'")
    assert _rel(cd.model_files(ch, tmp_path), tmp_path) == [
        "data/models/compact/compact.pt", "data/models/frcnn/README.md", "data/models/frcnn/pred.csv"]


def test_shipped_check_files_named_by_a_glob(tmp_path):
    _write(tmp_path, {"data/checks/cov_D1_s1.json": "a", "data/checks/cov_D2_s2.json": "b",
                      "data/checks/cov_D2_s2_movies.csv": "c", "data/results/cov_D3_s3.json": "written"})
    ch = _chapter(tmp_path, "07_t", "c = '../data/checks/cov_D*_s*.json'\nr = '../data/results/cov_D*.json'")
    assert _rel(cd.model_files(ch, tmp_path), tmp_path) == ["data/checks/cov_D1_s1.json",
                                                            "data/checks/cov_D2_s2.json"]


def test_bad_chapter_code_is_one_clear_error(tmp_path):
    ch = _chapter(tmp_path, "01_a", "def (")
    with pytest.raises(ValueError, match="01_a.py: its code cells do not parse"):
        cd.chapter_modules(ch, tmp_path)


# ------------------------------------------------------------------ the real tree

def test_real_chapters_depend_only_on_what_they_import():
    ch01 = cd.chapter_modules(ROOT / "notebooks" / "01_scanner_timing.py")
    names = _rel(ch01, ROOT)
    assert "qdloc/sim/scanner.py" in names and "qdloc/plots/scanner.py" in names
    assert "qdloc/sim/psf.py" in names  # qdloc/__init__ imports the simulator
    far_away = ("qdloc/localise/compact.py", "qdloc/transport/diffusion.py", "qdloc/plots/sweep.py",
                "qdloc/cli/__init__.py")
    for far in far_away:
        assert far not in names, far
    ch07 = _rel(cd.chapter_modules(ROOT / "notebooks" / "07_tracking.py"), ROOT)
    assert "qdloc/localise/compact.py" in ch07 and "qdloc/transport/linking.py" in ch07


def test_real_data_dependencies():
    stems = [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))]
    deps = {s: cd.data_producers(ROOT / "notebooks" / f"{s}.py", stems) for s in stems}
    assert deps["05_training"] == ["04_dataset_generation"]  # trains on chapter 04's sets
    assert deps["08_sweep"] == [cd.SWEEP]  # the maps read the sweep's table
    for s in ("01_scanner_timing", "02_random_walks", "03_psf_photon_counts", "06_evaluation", "07_tracking"):
        assert deps[s] == [], (s, deps[s])
    if "09_ceiling" in deps:  # being written: it reads chapter 06's table1.json
        assert "06_evaluation" in deps["09_ceiling"]


def test_make_include_file():
    r = subprocess.run([sys.executable, "-m", "tools.chapter_deps"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    scripts = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert len(scripts) >= 8
    for s in scripts:
        assert f"\nbook/chapters/{s.stem}.ipynb: $(DEPS_{s.stem})" in text
    assert "book/chapters/05_training.ipynb: $(DEPS_05_training) book/chapters/04_dataset_generation.ipynb\n" in text
    assert "book/chapters/08_sweep.ipynb: $(DEPS_08_sweep) $(SWEEP_STAMP)\n" in text
    assert "\nqdloc/sim/psf.py:\n" in text  # empty rules: a deleted module does not stop make
    line01 = next(ln for ln in text.splitlines() if ln.startswith("DEPS_01_scanner_timing :="))
    assert "qdloc/sim/scanner.py" in line01 and "qdloc/localise/compact.py" not in line01


def test_a_chapter_being_written_depends_on_everything(tmp_path, capsys):
    _write(tmp_path, FAKE)
    _chapter(tmp_path, "01_a", "from qdloc.sim import params")
    _chapter(tmp_path, "02_b", "def (")
    text = cd.chapter_rules(tmp_path / "notebooks", tmp_path)
    assert "02_b.py: its code cells do not parse" in capsys.readouterr().err
    line = next(ln for ln in text.splitlines() if ln.startswith("DEPS_02_b :="))
    assert "qdloc/localise/compact.py" in line and "qdloc/sim/unused.py" in line
    assert "book/chapters/02_b.ipynb: $(DEPS_02_b) $(SWEEP_STAMP) book/chapters/01_a.ipynb\n" in text
    assert "DEPS_01_a := qdloc/__init__.py qdloc/sim/__init__.py qdloc/sim/params.py\n" in text
