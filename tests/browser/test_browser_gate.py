"""The gate in conftest.py, run as a user would meet it: pytest on tests/browser in a subprocess.

* no Chromium: one error that names the install command, every other browser test deselected;
* ``QDLOC_BROWSER_TESTS=0`` (``make test BROWSER=0``): every browser test skipped, with the
  reason; refused when ``CI`` is set.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SELF_TESTS = "tests/browser/test_book_browser.py"


def run_pytest(env_extra: dict[str, str], path: str) -> subprocess.CompletedProcess:
    """pytest on the browser self-tests, with PATH ``path`` and no CI/Chromium/pytest settings."""
    drop = ("CI", "QDLOC_CHROMIUM", "QDLOC_BROWSER_TESTS", "PYTEST_ADDOPTS")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST_")}
    env.update(PATH=path, **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "pytest", SELF_TESTS, "-q", "-p", "no:cacheprovider",
         "-m", "not book"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_missing_chromium_is_one_error_with_the_install_command(tmp_path):
    run = run_pytest({}, path=str(tmp_path))  # an empty PATH: no chromium
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    summary = out.strip().splitlines()[-1]
    assert re.match(r"\d+ deselected, 1 error in ", summary), summary  # nothing else ran
    [line] = [ln for ln in out.splitlines() if "apt-get install -y chromium" in ln]
    assert line.startswith("browser tests: no chromium executable on PATH: as root: ")
    assert "make test BROWSER=0" in line


def test_browser_tests_are_skipped_only_on_request():
    run = run_pytest({"QDLOC_BROWSER_TESTS": "0"}, path=os.environ["PATH"])
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    summary = out.strip().splitlines()[-1]
    assert re.match(r"\d+ skipped, 1 deselected in ", summary), summary  # nothing else ran
    assert "browser tests skipped on request (QDLOC_BROWSER_TESTS=0)" in out


def test_skipping_the_browser_tests_is_refused_in_ci():
    run = run_pytest({"QDLOC_BROWSER_TESTS": "0", "CI": "true"}, path=os.environ["PATH"])
    assert run.returncode == 4, run.stdout + run.stderr
    assert "is refused in CI: the browser tests run there" in run.stderr
