"""Project-wide pytest hooks.

When the notebooks are tested with nbval, every chapter listed in ``_toc.yml``
must have been collected: a glob that matches nothing must fail loudly, not pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.chapter_stats import toc_chapters

ROOT = Path(__file__).parent


def pytest_collection_modifyitems(session, config, items):
    if not (config.getoption("nbval", default=False) or config.getoption("nbdime", default=False)):
        return
    if config.getoption("nbval_lax", default=False):
        return
    collected = {Path(str(item.fspath)).resolve() for item in items if str(item.fspath).endswith(".ipynb")}
    expected = [ROOT / c for c in toc_chapters()]
    if not expected:
        raise pytest.UsageError("_toc.yml lists no chapters: nothing for nbval to test")
    # Only insist on the chapters when the notebooks folder itself was given to pytest.
    args = [Path(a.split("::")[0]).resolve() for a in config.args]
    if not any(a == ROOT / "notebooks" for a in args):
        return
    missing = [str(e.relative_to(ROOT)) for e in expected if e.resolve() not in collected]
    if missing:
        raise pytest.UsageError(f"nbval collected no cells from {missing}; expected every chapter in _toc.yml")
