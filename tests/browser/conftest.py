"""The browser tests need Chromium: one clear line when it is missing, never a silent skip.

* Chromium missing (or not runnable, or no Playwright): every selected browser test is
  deselected but one, :data:`PROBE` (``test_chromium_is_installed``) where it is selected,
  which fails at set-up with ONE line that names the install command, instead of an error
  in every browser test. The rest of the run goes on (also under pytest-xdist, where every
  worker collects the same). The hook runs after ``-m``/``-k`` selection (``trylast``).
* ``QDLOC_BROWSER_TESTS=0`` (what ``make test BROWSER=0`` exports): the user asks to skip
  them; every test here is reported as skipped, with the reason (``-ra``). Refused when
  ``CI`` is set: in CI the browser tests always run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools import booktest

HERE = Path(__file__).resolve().parent
#: Set to 0 by ``make test BROWSER=0`` (Makefile) to skip the browser tests on request.
SKIP_VAR = "QDLOC_BROWSER_TESTS"
#: The one test that runs (and fails with the install command) when Chromium is missing.
PROBE = "test_chromium_is_installed"
#: The message of the one failing test when Chromium is missing.
MISSING = pytest.StashKey[str]()


def browser_items(items: list[pytest.Item]) -> list[pytest.Item]:
    """The collected tests that live in tests/browser."""
    return [it for it in items if HERE in Path(str(it.path)).resolve().parents]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = browser_items(items)
    if not mine:
        return
    if os.environ.get(SKIP_VAR) == "0":
        if os.environ.get("CI"):
            raise pytest.UsageError(
                f"{SKIP_VAR}=0 (make test BROWSER=0) is refused in CI: the browser tests run there"
            )
        skip = pytest.mark.skip(reason=f"browser tests skipped on request ({SKIP_VAR}=0)")
        for item in mine:
            item.add_marker(skip)
        return
    try:
        booktest.check_chromium()
    except booktest.ChromiumMissing as e:
        keep = next((it for it in mine if it.name == PROBE), mine[0])
        keep.stash[MISSING] = (
            f"browser tests: {e} (`make test BROWSER=0` skips them)"
        )
        others = [it for it in mine if it is not keep]
        config.hook.pytest_deselected(items=others)
        items[:] = [it for it in items if not any(it is o for o in others)]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if MISSING in item.stash:
        pytest.fail(item.stash[MISSING], pytrace=False)
