"""`make publish`: the built book pushed to a gh-pages branch with ghp-import; and the
GitHub Pages workflow (.github/workflows/book.yml).

Each test runs the Makefile's own ``publish`` target (``make -C <root> publish``) on a tiny
fake ``_build/html``, with ``REMOTE`` pointed at a bare repository in ``tmp_path``. The
local repository that ghp-import commits in is a fresh one in ``tmp_path`` too
(``GIT_DIR``), so the compendium's own repository is never touched; make is told that the
virtual environment is up to date (``-o``), so nothing is installed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAMP = ".venv/.qdloc-installed"


def git(*args: str, git_dir: Path) -> str:
    """``git --git-dir git_dir args``: its stdout (an error if git fails)."""
    run = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        capture_output=True, text=True, check=True, env=clean_env(),
    )
    return run.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without git's or an outer make's variables, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("GIT_") and k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    }
    env.update(extra)
    return env


def root_gh_pages() -> str:
    """The compendium's own gh-pages ref ('' if none), to check that it never moves."""
    run = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "-q", "refs/heads/gh-pages"],
        capture_output=True, text=True, env=clean_env(),
    )
    return run.stdout.strip()


def make_publish(tmp_path: Path, site: Path, remote: Path) -> subprocess.CompletedProcess:
    """``make publish REMOTE=remote PUBLISH_DIR=site``, committing in ``tmp_path/local``."""
    local = tmp_path / "local"
    if not local.exists():
        subprocess.run(["git", "init", "-q", str(local)], check=True, env=clean_env())
    env = clean_env(
        GIT_DIR=str(local / ".git"),
        GIT_COMMITTER_NAME="qdloc test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "-o", STAMP, "publish",
         f"REMOTE={remote}", f"PUBLISH_DIR={site}"],
        capture_output=True, text=True, env=env, timeout=120,
    )


def fake_book(site: Path, pages: dict[str, str]) -> Path:
    for name, text in pages.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    return site


@pytest.fixture
def remote(tmp_path):
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True, env=clean_env())
    return bare


def test_publish_pushes_the_book_to_gh_pages(tmp_path, remote):
    before = root_gh_pages()
    site = fake_book(tmp_path / "html", {
        "index.html": "<h1>qdloc</h1>",
        "_static/style.css": "body {}",
        "book/notation.html": "<p>notation</p>",
    })
    run = make_publish(tmp_path, site, remote)
    assert run.returncode == 0, run.stdout + run.stderr
    files = git("ls-tree", "-r", "--name-only", "gh-pages", git_dir=remote).split()
    assert sorted(files) == [".nojekyll", "_static/style.css", "book/notation.html", "index.html"]
    assert git("show", "gh-pages:index.html", git_dir=remote) == "<h1>qdloc</h1>"
    assert git("log", "-1", "--format=%s", "gh-pages", git_dir=remote).startswith("Book built")
    assert root_gh_pages() == before


def test_a_second_publish_replaces_the_first(tmp_path, remote):
    site = fake_book(tmp_path / "html", {"index.html": "v1", "old.html": "gone"})
    assert make_publish(tmp_path, site, remote).returncode == 0
    (site / "old.html").unlink()
    (site / "index.html").write_text("v2")
    run = make_publish(tmp_path, site, remote)
    assert run.returncode == 0, run.stdout + run.stderr
    files = git("ls-tree", "-r", "--name-only", "gh-pages", git_dir=remote).split()
    assert sorted(files) == [".nojekyll", "index.html"]
    assert git("show", "gh-pages:index.html", git_dir=remote) == "v2"
    # --no-history: the branch is one commit, whatever was published before
    assert git("rev-list", "--count", "gh-pages", git_dir=remote).strip() == "1"


def test_publish_without_a_built_book_fails_and_pushes_nothing(tmp_path, remote):
    site = fake_book(tmp_path / "html", {"other.html": "no index"})
    run = make_publish(tmp_path, site, remote)
    assert run.returncode != 0
    assert f"{site}/index.html is missing: build the book first (make book)" in run.stderr
    assert git("branch", "--list", git_dir=remote) == ""


def test_the_pages_workflow_builds_checks_and_deploys_the_book():
    """.github/workflows/book.yml: on a push to main, make book, the browser check, then
    the built book uploaded and deployed with GitHub's Pages actions."""
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    on = flow[True]  # YAML 1.1 reads the key `on` as true
    assert on["push"]["branches"] == ["main"]
    assert flow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build = flow["jobs"]["build"]
    assert build["container"].startswith("python:3.11")
    runs = [s.get("run", "") for s in build["steps"]]
    assert any("apt-get install -y -q chromium" in r for r in runs)
    assert any(r.startswith("make book") for r in runs)
    assert "make test-browser" in runs
    upload = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages")]
    assert [s["with"]["path"] for s in upload] == ["_build/html"]
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
