"""Check a built HTML book in a real browser (headless Chromium, driven by Playwright).

``make test-browser`` (run by ``make test`` right after the book is built) serves
``_build/html`` over http on a free localhost port and loads every page in headless
Chromium. A page fails on:

* a JavaScript error: an uncaught exception, or a ``console.error`` message;
* a missing image: an ``<img>`` that did not decode (``naturalWidth == 0``), or any
  request to the local server that failed or answered with status >= 400;
* a broken internal link: an ``<a href>`` to the same origin whose target does not
  exist (404), or whose ``#fragment`` names no element ``id`` (or ``<a name>``) on the
  target page (ids are read from the target page's DOM after its scripts ran);
* for a chapter page ``book/chapters/NN_name.html``: fewer (or more) rendered figures
  than image outputs in the executed notebook ``NN_name.ipynb`` (see
  :func:`expected_figures` and :data:`PAGE_JS`);
* maths left as raw TeX: a Sphinx maths element (``span.math``/``div.math``) that MathJax
  did not typeset, or text such as ``\\(\\varepsilon\\)`` outside code (any page); and, for
  the pages listed in ``maths_pages`` (this book: :data:`MATHS_PAGES`, the notation page),
  no typeset maths at all (no ``mjx-container``). The book bundles MathJax
  (``tools/mathjax_offline.py``), so the maths must render with no network.

The browser has no network beyond the local server. External requests (any URL that is
not on the local server: require.js and the ipywidgets renderer from CDNs, fonts, ...) are
*blocked* (Playwright's request routing) and listed in the report as information, never as
failures; and Chromium resolves no host name but ``127.0.0.1`` (``--host-resolver-rules``,
:data:`OFFLINE_ARGS`), which also stops what routing does not see (WebSockets, service
workers). This makes the check the same online and offline (a CDN that is slow or down
cannot make it flaky, and a CDN cannot hide a missing bundle), and the console messages of
the blocked requests ("Failed to load resource: net::ERR_BLOCKED_BY_CLIENT") are not
JavaScript errors. A script that *throws* because a blocked library is absent is still
reported as a JavaScript error: the page is broken for an offline reader.

Known upstream errors. Two JavaScript errors come from the Jupyter Book 1 tool chain, not
from this book, and are listed in :data:`BOOK_KNOWN_ERRORS`; :func:`check_site` reports
an error that matches one of them (exactly, by regular expression) under ``known_errors``,
not as a problem, when it is given ``known_errors=BOOK_KNOWN_ERRORS`` (the command line
and the book's test do so; the default is none). Any other error still fails.

Playwright only drives a Chromium that is already installed (Debian's ``chromium``
package: ``apt-get install -y chromium``); it never downloads a browser. Set
``QDLOC_CHROMIUM`` to use another executable.

Command line (from the compendium's root; the screenshot of chapter 06 goes to
``_build/screenshots/06_evaluation.png``)::

    python tools/booktest.py [--strict] [-v]
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

__all__ = [
    "BOOK_KNOWN_ERRORS",
    "MATHS_PAGES",
    "BookReport",
    "ChromiumMissing",
    "PageReport",
    "check_book",
    "check_chromium",
    "check_site",
    "discover_pages",
    "expected_figures",
    "find_chromium",
    "serve",
    "toc_pages",
]

INSTALL_HINT = (
    "as root: apt-get install -y chromium (Debian's package; .ci/run does it), "
    "or set QDLOC_CHROMIUM to a Chromium executable"
)

#: MIME types myst-nb renders as an ``<img>``.
IMAGE_MIMES = ("image/png", "image/svg+xml", "image/jpeg", "image/gif")
#: MIME types myst-nb (default ``nb_mime_priority_overrides``, html builder) prefers to an image:
#: an output that also has one of these is not rendered as an image.
ABOVE_IMAGE_MIMES = (
    "application/vnd.jupyter.widget-view+json",
    "application/javascript",
    "text/html",
)
#: Cell tags that keep a cell's outputs out of the book.
REMOVE_OUTPUT_TAGS = {"remove-output", "remove_output", "remove-cell", "remove_cell"}
#: matplotlib's ``Animation.to_jshtml()`` draws its frames into ``<img id="_anim_img...">``.
ANIM_IMG_RE = re.compile(r"""<img\s[^>]*id=["']_anim_img""")
#: JavaScript errors of the Jupyter Book 1 tool chain (pinned in constraints.txt) that every
#: book built with it shows: ``(regular expression, reason)``, matched with ``re.fullmatch``.
BOOK_KNOWN_ERRORS: tuple[tuple[str, str], ...] = (
    (
        r"uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been declared",
        "sphinx-thebe 0.3.1 (Jupyter Book 1.0.4, Sphinx 7.4) puts its inline config script "
        "`const THEBE_JS_URL = ...` twice in every page; harmless unless thebe is launched",
    ),
    (
        r"console\.error: Got invalid theme mode: \. Resetting to auto\..*",
        "pydata-sphinx-theme 0.17 on a first visit (empty localStorage, no html_context "
        "default_mode): logged once, then the theme resets itself to 'auto'",
    ),
)
CHAPTER_RE = re.compile(r"(?:^|/)book/chapters/(\d\d_[^/]+)\.html$")
#: Pages of this book that must show typeset maths (:func:`check_book`).
MATHS_PAGES = ("book/notation.html",)
#: Chromium flags: no host name resolves except the local server's address, so nothing
#: outside it can be reached even where request routing does not apply (WebSockets).
OFFLINE_ARGS = ("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",)

#: Collected in the page once it has loaded: images (lazy ones are made eager and awaited),
#: ids, links, and the figures of notebook outputs. A figure is an ``<img>`` of an image
#: output (inside ``.cell_output``, not inside a raw-HTML output ``.text_html``), or the
#: frame ``<img>`` of a matplotlib ``to_jshtml`` animation (its ``src`` is set by the
#: animation's script, so a figure only if that script ran). Rendered: ``naturalWidth > 0``.
PAGE_JS = """
async () => {
  // MathJax 3 typesets after the page's load event: wait for it (at most 10 s). Without
  // MathJax (blocked, missing), window.MathJax is at most Sphinx's config object.
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    await Promise.race([mj.startup.promise.catch(() => null),
                        new Promise(r => setTimeout(r, 10000))]);
  }
  const rawTex = [];
  for (const e of document.querySelectorAll('.math')) {
    if (!e.querySelector('mjx-container')) rawTex.push(e.textContent.trim().slice(0, 60));
  }
  const skip = 'pre, code, script, style, textarea, mjx-container, .math';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const m = n.textContent.match(/\\\\[(\\[]/);
    if (m && !(n.parentElement && n.parentElement.closest(skip))) {
      rawTex.push(n.textContent.slice(Math.max(0, m.index - 20), m.index + 40).trim());
    }
  }
  const imgs = Array.from(document.images);
  for (const i of imgs) { if (i.loading === 'lazy') i.loading = 'eager'; }
  await Promise.all(imgs.map(i => i.complete ? null
    : new Promise(r => { i.addEventListener('load', r, {once: true});
                         i.addEventListener('error', r, {once: true});
                         setTimeout(r, 5000); })));
  const isFigure = i => {
    const out = i.closest('.cell_output');
    if (!out) return false;
    // ipywidgets render (from a CDN) only online: never a figure, so that online and
    // offline runs count alike
    if (i.closest('.jupyter-widgets, .widget-area, .jupyter-widgets-view')) return false;
    if ((i.id || '').startsWith('_anim_img')) return true;
    return !i.closest('.text_html');
  };
  const ids = new Set();
  for (const e of document.querySelectorAll('[id]')) ids.add(e.id);
  for (const e of document.querySelectorAll('a[name]')) ids.add(e.getAttribute('name'));
  return {
    images: imgs.map(i => ({src: i.currentSrc || i.getAttribute('src') || '',
                            id: i.id || '', width: i.naturalWidth,
                            animation: (i.id || '').startsWith('_anim_img'),
                            figure: isFigure(i)})),
    ids: Array.from(ids),
    links: Array.from(document.querySelectorAll('a[href]'))
             .map(a => ({href: a.href, raw: a.getAttribute('href')})),
    maths: document.querySelectorAll('mjx-container').length,
    rawTex: rawTex,
  };
}
"""


class ChromiumMissing(RuntimeError):
    """No Chromium (or no Playwright) to run the browser check with."""


@dataclass
class PageReport:
    """What the browser saw on one page (``path`` is relative to the site root)."""

    path: str
    js_errors: list[str] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    figures_rendered: int | None = None
    figures_expected: int | None = None
    animations_rendered: int = 0
    maths_rendered: int = 0
    maths_expected: bool = False
    raw_tex: list[str] = field(default_factory=list)
    links_checked: int = 0
    redirected_to: str | None = None
    known_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = [f"JavaScript error: {e}" for e in self.js_errors]
        out += [f"missing image: {s}" for s in self.missing_images]
        out += [f"failed request: {s}" for s in self.failed_requests]
        out += [f"broken link: {s}" for s in self.broken_links]
        if self.figures_expected is not None and self.figures_rendered != self.figures_expected:
            out.append(
                f"figures: {self.figures_rendered} rendered, "
                f"{self.figures_expected} image outputs in the executed notebook"
            )
        out += [f"maths not rendered (raw TeX): {t}" for t in self.raw_tex]
        if self.maths_expected and self.maths_rendered == 0:
            out.append("no rendered maths (no mjx-container): MathJax did not typeset")
        out += self.notes
        return out


@dataclass
class BookReport:
    """All pages; ``missing_pages``: pages of the table of contents not in the site."""

    site: Path
    pages: list[PageReport]
    missing_pages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    screenshots: dict[str, Path] = field(default_factory=dict)

    def page(self, path: str) -> PageReport:
        for p in self.pages:
            if p.path == path:
                return p
        raise KeyError(path)

    @property
    def problems(self) -> list[str]:
        out = [f"{m}: in the table of contents but not in the site" for m in self.missing_pages]
        for p in self.pages:
            out += [f"{p.path}: {msg}" for msg in p.problems]
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        lines = [f"{len(self.pages)} pages of {self.site} checked in {self.seconds:.1f} s"]
        for p in self.pages:
            figs = ""
            if p.figures_expected is not None:
                figs = f", figures {p.figures_rendered}/{p.figures_expected}"
                if p.animations_rendered:
                    figs += f" ({p.animations_rendered} animation)"
            if p.maths_rendered:
                figs += f", maths {p.maths_rendered}"
            ext = f", {len(p.external_requests)} external blocked" if p.external_requests else ""
            known = f", {len(p.known_errors)} known upstream errors" if p.known_errors else ""
            redir = f" (redirects to {p.redirected_to})" if p.redirected_to else ""
            state = "ok" if not p.problems else f"{len(p.problems)} problems"
            lines.append(
                f"  {p.path}{redir}: {state}, {p.links_checked} internal links{figs}{ext}{known}"
            )
        if self.problems:
            lines.append("problems:")
            lines += [f"  {m}" for m in self.problems]
        return "\n".join(lines)


# --------------------------------------------------------------------------- server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".svg": "image/svg+xml",
        ".woff": "font/woff",
        ".woff2": "font/woff2",
        ".ipynb": "application/x-ipynb+json",
    }

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def list_directory(self, path):
        # a web host shows no listing either: a link to a folder without index.html is broken
        self.send_error(404, "No index.html in this folder")
        return None


@contextlib.contextmanager
def serve(directory: Path | str) -> Iterator[str]:
    """Serve ``directory`` over http on a free port of 127.0.0.1; yield its base URL."""
    handler = partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="booktest-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------- discovery


def find_chromium() -> str:
    """The Chromium executable: ``$QDLOC_CHROMIUM``, else ``chromium`` on PATH.

    Raises :class:`ChromiumMissing` with install instructions when there is none.
    """
    env = os.environ.get("QDLOC_CHROMIUM")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise ChromiumMissing(f"QDLOC_CHROMIUM={env!r} is not an executable file")
        return env
    for name in ("chromium", "chromium-browser"):
        exe = shutil.which(name)
        if exe:
            return exe
    raise ChromiumMissing(f"no chromium executable on PATH: {INSTALL_HINT}")


def check_chromium(chromium: str | None = None) -> str:
    """The version line of the Chromium that the check would drive (and Playwright present).

    Parameters
    ----------
    chromium : str, optional
        The executable (default :func:`find_chromium`).

    Returns
    -------
    str
        What ``chromium --version`` prints, e.g. ``Chromium 150.0... built on Debian ...``.

    Raises :class:`ChromiumMissing` (a one-line message with the install command) when there
    is no Chromium, it does not run, or Playwright is not installed.
    """
    exe = chromium or find_chromium()
    try:
        import playwright  # noqa: F401 - only whether it is installed
    except ImportError as e:
        raise ChromiumMissing(
            "playwright is not installed: pip install -r requirements.txt -c constraints.txt"
        ) from e
    try:
        run = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise ChromiumMissing(f"{exe} --version failed ({e}): {INSTALL_HINT}") from e
    return run.stdout.strip() or exe


def discover_pages(site: Path | str) -> list[str]:
    """Every ``.html`` file under ``site`` (relative POSIX paths, sorted), ``_static/`` excepted."""
    site = Path(site)
    pages = []
    for f in site.rglob("*.html"):
        rel = f.relative_to(site).as_posix()
        if rel.startswith(("_static/", "_sources/")):
            continue
        pages.append(rel)
    return sorted(pages)


def toc_pages(toc: Path | str) -> list[str]:
    """The HTML pages of a Jupyter Book 1 ``_toc.yml``: ``root`` and every ``file`` entry."""
    import yaml

    data = yaml.safe_load(Path(toc).read_text())
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for k, v in node.items():
                if k != "file":
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    if "root" in data:
        files.append(str(data["root"]))
    walk({k: v for k, v in data.items() if k != "root"})
    out = []
    for f in files:
        f = re.sub(r"\.(md|ipynb|rst)$", "", f)
        out.append(f + ".html")
    return list(dict.fromkeys(out))


def expected_figures(notebook: Path | str) -> int:
    """Figures a notebook's outputs put in the book.

    One per ``display_data``/``execute_result`` output rendered as an image (it has an
    image MIME type and none that myst-nb prefers, see :data:`ABOVE_IMAGE_MIMES`), plus one
    per matplotlib ``to_jshtml`` animation in a ``text/html`` output. Outputs of cells tagged
    ``remove-output``/``remove-cell`` are not counted.
    """
    nb = json.loads(Path(notebook).read_text())
    n = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if REMOVE_OUTPUT_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") not in ("display_data", "execute_result"):
                continue
            data = out.get("data", {})
            if any(m in data for m in ABOVE_IMAGE_MIMES):
                html = data.get("text/html", "")
                html = "".join(html) if isinstance(html, list) else html
                if "application/vnd.jupyter.widget-view+json" not in data:
                    n += len(ANIM_IMG_RE.findall(html))
                continue
            if any(m in data for m in IMAGE_MIMES):
                n += 1
    return n


# --------------------------------------------------------------------------- the check


def _same_origin(url: str, base: str) -> bool:
    return url.startswith(base)


def _page_key(url: str, base: str) -> str:
    """Site-relative path of a same-origin URL, without query or fragment (``/`` → index.html)."""
    path = urllib.parse.urlsplit(url).path
    rel = urllib.parse.unquote(path)[len(urllib.parse.urlsplit(base).path) :]
    if rel == "" or rel.endswith("/"):
        rel += "index.html"
    return rel


def _url_status(url: str, cache: dict[str, int]) -> int:
    if url not in cache:
        try:
            req = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(req, timeout=10) as r:
                cache[url] = r.status
        except urllib.error.HTTPError as e:
            cache[url] = e.code
        except OSError:
            cache[url] = 0
    return cache[url]


def _route(route, *, base: str, current: list[PageReport]) -> None:
    """Let requests to the local server (and data:/blob: URLs) through; block the rest."""
    u = route.request.url
    if _same_origin(u, base) or u.startswith(("data:", "blob:")):
        route.continue_()
    else:
        if current:
            current[-1].external_requests.append(u)
        route.abort("blockedbyclient")


def _listen(page, rep: PageReport, base: str) -> None:
    """Record the page's JavaScript errors and failed local requests in ``rep``."""

    def on_console(msg):
        if msg.type != "error":
            return
        # failed loads are reported from the network events, with their URL
        if msg.text.startswith("Failed to load resource"):
            return
        loc = msg.location or {}
        where = f" ({loc.get('url')}:{loc.get('lineNumber')})" if loc.get("url") else ""
        rep.js_errors.append(f"console.error: {msg.text}{where}")

    def on_pageerror(err):
        rep.js_errors.append(f"uncaught {err.name or 'Error'}: {err.message}")

    def on_response(resp):
        if resp.status >= 400 and _same_origin(resp.url, base):
            rep.failed_requests.append(f"{resp.status} {resp.url[len(base):]}")

    def on_requestfailed(req):
        # ERR_ABORTED: cancelled by a navigation (index.html's meta refresh) or by the page,
        # not missing; a missing file is a 404 (on_response)
        if _same_origin(req.url, base) and "ERR_ABORTED" not in (req.failure or ""):
            rep.failed_requests.append(f"{req.failure} {req.url[len(base):]}")

    page.on("console", on_console)
    page.on("pageerror", on_pageerror)
    page.on("response", on_response)
    page.on("requestfailed", on_requestfailed)


def _load_page(context, base: str, rep: PageReport, shot: Path | None, error: type) -> dict | None:
    """Open ``rep.path`` in a new page, run :data:`PAGE_JS`, take the screenshot ``shot``.

    Returns what :data:`PAGE_JS` collected, or None (with a note in ``rep``) when the
    browser failed (``error``: Playwright's exception class).
    """
    page = context.new_page()
    _listen(page, rep, base)
    url = base + urllib.parse.quote(rep.path)
    try:
        resp = page.goto(url, wait_until="load")
        if resp is None or resp.status >= 400:
            rep.notes.append(f"page did not load: {resp and resp.status}")
        with contextlib.suppress(error):
            page.wait_for_load_state("networkidle", timeout=5000)
        for attempt in range(3):
            # a <meta http-equiv="refresh"> (index.html) navigates after load
            try:
                page.wait_for_load_state("load")
                info = page.evaluate(PAGE_JS)
                break
            except error as e:
                if "context was destroyed" not in str(e) or attempt == 2:
                    raise
                page.wait_for_timeout(500)
        if page.url.split("#")[0] != url:
            rep.redirected_to = _page_key(page.url, base)
        # let late timers (e.g. an animation's first frame) report their errors
        page.wait_for_timeout(100)
        if shot is not None:
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
    except error as e:
        rep.notes.append(f"browser error: {e}")
        return None
    finally:
        page.close()
    return info


def _record_page(rep: PageReport, info: dict, base: str, notebooks: Path | str | None) -> None:
    """Missing images, maths and (for a chapter) figures of one page, from :data:`PAGE_JS`."""
    for im in info["images"]:
        if im["width"] == 0:
            src = im["src"]
            src = src[len(base) :] if src.startswith(base) else src
            if src.startswith("data:"):
                src = src[:40] + "..."
            rep.missing_images.append(src or f"<img id={im['id']!r}> without src")
    rep.maths_rendered = info["maths"]
    rep.raw_tex = list(dict.fromkeys(info["rawTex"]))
    m = CHAPTER_RE.search(rep.path)
    if m and notebooks is not None:
        nb = Path(notebooks) / f"{m.group(1)}.ipynb"
        if nb.is_file():
            rep.figures_expected = expected_figures(nb)
            shown = [im for im in info["images"] if im["figure"] and im["width"] > 0]
            rep.figures_rendered = len(shown)
            rep.animations_rendered = sum(im["animation"] for im in shown)
        else:
            rep.notes.append(f"no executed notebook {nb} to count its figures")


def _check_links(
    links: Mapping[str, list[tuple[str, str]]],
    page_ids: Mapping[str, set[str]],
    base: str,
    reports: Mapping[str, PageReport],
) -> None:
    """Internal links: the target exists (404 otherwise), and so does its ``#fragment``."""
    status_cache: dict[str, int] = {}
    for rel, lns in links.items():
        seen = set()
        for href, raw in lns:
            if not _same_origin(href, base) or (href, raw) in seen:
                continue
            seen.add((href, raw))
            reports[rel].links_checked += 1
            target_url, _, frag = href.partition("#")
            target = _page_key(target_url, base)
            frag = urllib.parse.unquote(frag)
            if target in page_ids:
                if frag and frag not in page_ids[target]:
                    reports[rel].broken_links.append(f"{raw} (no id {frag!r} on {target})")
                continue
            code = _url_status(target_url, status_cache)
            if code >= 400 or code == 0:
                reports[rel].broken_links.append(f"{raw} ({code or 'no answer'})")


def _sort_errors(rep: PageReport, known_errors: Sequence[tuple[str, str]]) -> None:
    """Move the JavaScript errors that match ``known_errors`` to ``rep.known_errors``."""
    rep.external_requests = list(dict.fromkeys(rep.external_requests))
    errors, rep.js_errors = rep.js_errors, []
    for err in errors:
        if any(re.fullmatch(rx, err, flags=re.DOTALL) for rx, _ in known_errors):
            rep.known_errors.append(err)
        else:
            rep.js_errors.append(err)


def check_site(
    site: Path | str,
    *,
    toc: Path | str | None = None,
    notebooks: Path | str | None = None,
    screenshots: Mapping[str, Path | str] | None = None,
    chromium: str | None = None,
    known_errors: Sequence[tuple[str, str]] = (),
    maths_pages: Sequence[str] = (),
    timeout_s: float = 30.0,
) -> BookReport:
    """Load every page of the built site ``site`` in headless Chromium and report problems.

    Parameters
    ----------
    site : path
        The built HTML (``_build/html``); must contain ``index.html`` or some ``.html``.
    toc : path, optional
        ``_toc.yml``: each of its pages must be in the site (else ``missing_pages``).
    notebooks : path, optional
        Folder of the executed chapter notebooks (``book/chapters``). A page
        ``.../book/chapters/NN_name.html`` is compared with ``notebooks/NN_name.ipynb``
        (see :func:`expected_figures`); without it, chapters' figures are not counted.
    screenshots : mapping, optional
        ``{page: png path}``: full-page screenshots taken after the checks of that page.
    chromium : str, optional
        The executable (default :func:`find_chromium`).
    known_errors : sequence of (regex, reason)
        JavaScript errors to report under ``known_errors`` instead of failing (e.g.
        :data:`BOOK_KNOWN_ERRORS`); a pattern must match the whole message.
    maths_pages : sequence of str
        Pages (relative to ``site``) that must show typeset maths (``mjx-container``);
        raw TeX is a problem on every page.
    timeout_s : float
        Per-page load timeout.
    """
    t0 = time.perf_counter()
    site = Path(site)
    if not site.is_dir():
        raise FileNotFoundError(f"{site} is not a directory: build the book first (make html)")
    pages = discover_pages(site)
    if not pages:
        raise FileNotFoundError(f"no .html pages under {site}: build the book first (make html)")
    missing_pages = [p for p in toc_pages(toc) if p not in pages] if toc is not None else []
    exe = chromium or find_chromium()
    try:
        from playwright.sync_api import Error as PlaywrightError, sync_playwright
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ChromiumMissing(
            "playwright is not installed: pip install -r requirements.txt -c constraints.txt"
        ) from e
    screenshots = {k: Path(v) for k, v in (screenshots or {}).items()}
    for what, names in (("screenshot of", screenshots), ("maths checked on", maths_pages)):
        for k in names:
            if k not in pages:
                raise ValueError(f"{what} {k!r} asked for, but it is not a page of {site}")

    reports: dict[str, PageReport] = {}
    page_ids: dict[str, set[str]] = {}
    links: dict[str, list[tuple[str, str]]] = {}
    with serve(site) as base, sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(
                executable_path=exe,
                headless=True,
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", *OFFLINE_ARGS],
            )
        except PlaywrightError as e:
            raise ChromiumMissing(f"could not start {exe}: {e}\n{INSTALL_HINT}") from e
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(timeout_s * 1000)
            current: list[PageReport] = []
            context.route("**/*", partial(_route, base=base, current=current))
            for rel in pages:
                rep = PageReport(rel, maths_expected=rel in maths_pages)
                current.append(rep)
                reports[rel] = rep
                info = _load_page(context, base, rep, screenshots.get(rel), PlaywrightError)
                if info is None:
                    continue
                _record_page(rep, info, base, notebooks)
                if rep.redirected_to is None:
                    page_ids[rel] = set(info["ids"])
                links[rel] = [(ln["href"], ln["raw"]) for ln in info["links"]]
            context.close()
        finally:
            browser.close()
        _check_links(links, page_ids, base, reports)

    for rep in reports.values():
        _sort_errors(rep, known_errors)
    return BookReport(
        site=site,
        pages=[reports[p] for p in pages],
        missing_pages=missing_pages,
        seconds=time.perf_counter() - t0,
        screenshots=screenshots,
    )


SCREENSHOT_PAGE = "book/chapters/06_evaluation.html"


def check_book(root: Path | str = ".", **kwargs) -> BookReport:
    """Check this compendium's built book: ``root/_build/html`` against ``root/_toc.yml``
    and the executed chapters in ``root/book/chapters``, with :data:`BOOK_KNOWN_ERRORS`
    allowed, typeset maths required on :data:`MATHS_PAGES`, and a full-page screenshot of
    chapter 06 in ``root/_build/screenshots/06_evaluation.png``. ``kwargs`` go to
    :func:`check_site`.
    """
    root = Path(root)
    kwargs.setdefault("toc", root / "_toc.yml")
    kwargs.setdefault("notebooks", root / "book" / "chapters")
    kwargs.setdefault(
        "screenshots", {SCREENSHOT_PAGE: root / "_build" / "screenshots" / "06_evaluation.png"}
    )
    kwargs.setdefault("known_errors", BOOK_KNOWN_ERRORS)
    kwargs.setdefault("maths_pages", MATHS_PAGES)
    return check_site(root / "_build" / "html", **kwargs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python tools/booktest.py",
        description="Load every page of the built book in headless Chromium and report "
        "JavaScript errors, missing images, broken internal links and unrendered figures.",
    )
    ap.add_argument("root", nargs="?", type=Path, default=Path("."),
                    help="the compendium (with _build/html, _toc.yml, book/chapters)")
    ap.add_argument("--strict", action="store_true",
                    help="also fail on the known upstream errors (BOOK_KNOWN_ERRORS)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="list the blocked external URLs and the known upstream errors")
    ap.add_argument("--check-chromium", action="store_true",
                    help="only check that Chromium and Playwright are there (one line; exit 2 "
                    "if not)")
    a = ap.parse_args(argv)
    if a.check_chromium:
        try:
            print(f"browser check: {check_chromium()}")
        except ChromiumMissing as e:
            print(f"error: browser tests: {e} (`make test BROWSER=0` skips them)", file=sys.stderr)
            return 2
        return 0
    try:
        report = check_book(a.root, **({"known_errors": ()} if a.strict else {}))
    except (ChromiumMissing, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    for name, path in report.screenshots.items():
        print(f"screenshot of {name}: {path}")
    if a.verbose:
        for p in report.pages:
            for u in p.external_requests:
                print(f"  external (blocked) on {p.path}: {u}")
            for e in p.known_errors:
                print(f"  known upstream error on {p.path}: {e}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
