"""The built book in a real browser: headless Chromium via ``qdloc.booktest``.

Two kinds of test:

* self-tests on a tiny site built in ``tmp_path``: each deliberate defect (a missing
  image, broken internal links, JavaScript errors, a chapter with fewer rendered figures
  than its notebook) must be reported, and the clean pages must pass. They need Chromium
  but not the book, so they run in the first pytest pass of ``make test``;
* ``test_built_book_in_chromium`` (marker ``book``): the real ``_build/html``. ``make test``
  deselects it in its first pass (``-m "not book"``, the book is not built yet) and runs it
  with ``make test-browser`` right after ``make test-book``.

No Chromium is one error with the install command (conftest.py; the other browser tests are
deselected, see test_browser_gate.py); no built book is a failure with instructions. They are
skipped only on request (``make test BROWSER=0``, refused in CI).

Maths: the book bundles MathJax (tools/mathjax_offline.py); the tiny site loads that bundle
locally (rendered) and from a fake CDN on another local port (blocked: the page shows raw TeX
and the CDN server sees no request, not even a WebSocket that request routing does not catch).
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import threading
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from sphinx.errors import ExtensionError

from tools import booktest, mathjax_offline

ROOT = Path(__file__).resolve().parents[2]

# an 8x6 red PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAGCAIAAABxZ0isAAAAFUlEQVR42mM8ISfHgA0wMeAA9JAAAJsUARDF3xyaAAAAAElFTkSuQmCC"
)
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def require_chromium() -> str:
    try:
        return booktest.find_chromium()
    except booktest.ChromiumMissing as e:
        pytest.fail(f"the browser tests need Chromium: {e}", pytrace=False)


def html(body: str, head: str = "") -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>t</title>"
        f"{head}</head><body>{body}</body></html>"
    )


def notebook(outputs: list[dict], tags: tuple[str, ...] = ()) -> str:
    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "metadata": {"tags": list(tags)},
        "outputs": outputs,
        "source": "",
    }
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def image_output(mime: str = "image/png") -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {mime: "iVBORw0KGgo=", "text/plain": "<Figure>"}}


def figure_div(src: str) -> str:
    """What myst-nb writes for an image output."""
    return f'<div class="cell_output docutils container"><img alt="x" src="{src}" /></div>'


#: Inline and display maths as Sphinx writes them, and TeX-like text in code (not maths).
MATHS_BODY = (
    '<p>tolerance <span class="math notranslate nohighlight">\\(\\varepsilon\\)</span></p>'
    '<div class="math notranslate nohighlight">\\[t_{ij} = i\\,(W\\tau_d + \\tau_r)\\]</div>'
    "<pre>re.compile(r'\\(x\\)')</pre>"
)


@contextlib.contextmanager
def fake_cdn(directory: Path):
    """A second local server standing in for a CDN, reached as ``localhost`` (not 127.0.0.1);
    yields its base URL and the list of paths it was asked for."""
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


ANIM_HTML = '<div class="animation"><img id="_anim_img42"></div>'


def anim_div(with_script: bool) -> str:
    """A matplotlib to_jshtml animation: its frame <img> gets its src from the script."""
    script = (
        f"<script>document.getElementById('_anim_img42').src = '{PNG_URI}';</script>"
        if with_script
        else ""
    )
    return (
        '<div class="cell_output docutils container"><div class="output text_html">'
        f"{ANIM_HTML}{script}</div></div>"
    )


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny site with clean pages and one deliberate defect per page, checked once."""
    exe = require_chromium()
    tmp = tmp_path_factory.mktemp("tinybook")
    site, nbs = tmp / "html", tmp / "nbs"
    write(site / "_images" / "ok.png", PNG)
    # clean pages: an image, links to a page, to an anchor there, to an anchor here and to a
    # non-HTML file; an external script that is blocked (reported, not a failure)
    write(site / "index.html", html(
        '<h1 id="top">Tiny</h1><img src="_images/ok.png">'
        '<a href="other.html">other</a> <a href="other.html#sec">sec</a> <a href="#top">top</a>'
        ' <a href="_images/ok.png">png</a> <a href="https://example.invalid/x">out</a>',
        head='<script src="https://cdn.example.invalid/lib.js"></script>',
    ))
    write(site / "other.html", html('<h2 id="sec">Section</h2><a href="index.html#top">up</a>'))
    # defects
    write(site / "missing_image.html", html('<img src="_images/does_not_exist.png">'))
    write(site / "broken_link.html", html(
        '<a href="no_such_page.html">a</a> <a href="other.html#no-such-id">b</a>'
        ' <a href="#nowhere">c</a> <a href="_images/">d</a>'
    ))
    write(site / "js_error.html", html("<script>throw new Error('deliberate failure');</script>"))
    write(site / "console_error.html",
          html("<script>console.error('deliberate message');</script>"))
    # chapters, compared with their notebooks
    ch = site / "book" / "chapters"
    write(ch / "01_good.html", html(figure_div("../../_images/ok.png") * 2 + anim_div(True)))
    write(nbs / "01_good.ipynb", notebook([
        image_output(), image_output("image/svg+xml"),
        {"output_type": "display_data", "metadata": {},
         "data": {"text/html": ANIM_HTML, "text/plain": "<HTML>"}},
    ]))
    write(ch / "02_short.html", html(figure_div("../../_images/ok.png")))
    write(nbs / "02_short.ipynb", notebook([image_output(), image_output()]))
    write(ch / "03_anim_no_js.html", html(anim_div(False)))
    write(nbs / "03_anim_no_js.ipynb", notebook([
        {"output_type": "display_data", "metadata": {},
         "data": {"text/html": ANIM_HTML, "text/plain": "<HTML>"}},
    ]))
    toc = tmp / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: index\nchapters:\n"
        "  - file: other\n  - file: book/chapters/01_good\n  - file: book/chapters/09_absent\n"
    )
    # maths: MathJax bundled as the book bundles it, and the same MathJax on a "CDN"
    n_bundled = mathjax_offline.copy_bundle(
        mathjax_offline.mathjax_source(), site / "_static" / "mathjax"
    )
    assert n_bundled > 50
    mathjax_offline.copy_bundle(mathjax_offline.mathjax_source(), tmp / "cdn" / "mathjax")
    script = '<script defer src="{}mathjax/tex-mml-chtml.js"></script>'
    write(site / "maths.html", html(MATHS_BODY, head=script.format("_static/")))
    shot = tmp / "shots" / "01_good.png"
    with fake_cdn(tmp / "cdn") as (cdn, cdn_hits):
        ws = f"<script>try {{ new WebSocket('{cdn.replace('http', 'ws')}socket'); }} catch (e) {{}}"
        write(site / "maths_cdn.html", html(MATHS_BODY + ws + "</script>", head=script.format(cdn)))
        report = booktest.check_site(
            site, toc=toc, notebooks=nbs, chromium=exe,
            screenshots={"book/chapters/01_good.html": shot},
            maths_pages=["maths.html", "maths_cdn.html"],
        )
    print(report.summary())
    return report, shot, cdn, cdn_hits


CLEAN = ["index.html", "other.html", "book/chapters/01_good.html", "maths.html"]


@pytest.mark.parametrize("page", CLEAN)
def test_clean_page_passes(tiny, page):
    report = tiny[0]
    assert report.page(page).problems == []


def test_every_page_was_loaded(tiny):
    report = tiny[0]
    assert [p.path for p in report.pages] == [
        "book/chapters/01_good.html", "book/chapters/02_short.html",
        "book/chapters/03_anim_no_js.html", "broken_link.html", "console_error.html",
        "index.html", "js_error.html", "maths.html", "maths_cdn.html", "missing_image.html",
        "other.html",
    ]
    assert report.page("index.html").links_checked == 4  # the external link is not checked


def test_external_requests_are_blocked_and_reported_not_failed(tiny):
    report = tiny[0]
    assert report.page("index.html").external_requests == ["https://cdn.example.invalid/lib.js"]


def test_missing_image_is_red(tiny):
    report = tiny[0]
    page = report.page("missing_image.html")
    assert page.missing_images == ["_images/does_not_exist.png"]
    assert page.failed_requests == ["404 _images/does_not_exist.png"]
    assert not report.ok


def test_broken_links_are_red(tiny):
    page = tiny[0].page("broken_link.html")
    assert sorted(page.broken_links) == [
        "#nowhere (no id 'nowhere' on broken_link.html)",
        "_images/ (404)",
        "no_such_page.html (404)",
        "other.html#no-such-id (no id 'no-such-id' on other.html)",
    ]


def test_javascript_errors_are_red(tiny):
    report = tiny[0]
    assert report.page("js_error.html").js_errors == ["uncaught Error: deliberate failure"]
    [msg] = report.page("console_error.html").js_errors
    assert msg.startswith("console.error: deliberate message")


def test_chapter_with_fewer_rendered_figures_is_red(tiny):
    report = tiny[0]
    good = report.page("book/chapters/01_good.html")
    assert (good.figures_rendered, good.figures_expected, good.animations_rendered) == (3, 3, 1)
    short = report.page("book/chapters/02_short.html")
    assert (short.figures_rendered, short.figures_expected) == (1, 2)
    assert "figures: 1 rendered, 2 image outputs in the executed notebook" in short.problems


def test_animation_whose_script_did_not_run_is_red(tiny):
    page = tiny[0].page("book/chapters/03_anim_no_js.html")
    assert (page.figures_rendered, page.figures_expected) == (0, 1)
    assert page.missing_images == ["<img id='_anim_img42'> without src"]


def test_page_of_the_toc_missing_from_the_site_is_red(tiny):
    assert tiny[0].missing_pages == ["book/chapters/09_absent.html"]


def test_bundled_maths_render_offline(tiny):
    page = tiny[0].page("maths.html")
    assert page.maths_rendered == 2  # inline and display; the <pre> is code, not maths
    assert page.raw_tex == []
    assert page.external_requests == []


def test_maths_from_a_cdn_are_blocked_and_red(tiny):
    report, _, cdn, cdn_hits = tiny
    page = report.page("maths_cdn.html")
    assert page.external_requests == [f"{cdn}mathjax/tex-mml-chtml.js"]
    assert cdn_hits == []  # neither the script nor the WebSocket reached the "CDN"
    assert page.maths_rendered == 0
    assert page.raw_tex == ["\\(\\varepsilon\\)", "\\[t_{ij} = i\\,(W\\tau_d + \\tau_r)\\]"]
    assert "no rendered maths (no mjx-container): MathJax did not typeset" in page.problems
    assert "maths not rendered (raw TeX): \\(\\varepsilon\\)" in page.problems


def test_the_book_loads_the_bundled_mathjax():
    """_config.yml: MathJax from the bundle that tools/mathjax_offline.py copies, no CDN."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]
    assert config["local_extensions"] == {"mathjax_offline": "tools/"}
    assert config["config"]["mathjax_path"] == "mathjax/tex-mml-chtml.js"
    files = {p.as_posix() for p in mathjax_offline.bundle_files(mathjax_offline.mathjax_source())}
    assert "tex-mml-chtml.js" in files
    assert "output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff" in files
    assert "input/tex/extensions/physics.js" in files  # autoloaded by \\qty etc.


def test_the_mathjax_extension_refuses_a_cdn_path(tmp_path):
    """A build whose mathjax_path is not the bundle's fails at once, saying what to write."""
    app = SimpleNamespace(
        builder=SimpleNamespace(format="html"),
        config=SimpleNamespace(mathjax_path="https://cdn.jsdelivr.net/npm/mathjax@3/es5/x.js"),
    )
    with pytest.raises(ExtensionError, match="mathjax_path: mathjax/tex-mml-chtml.js"):
        mathjax_offline._check(app)
    app.config.mathjax_path = "mathjax/tex-mml-chtml.js"
    mathjax_offline._check(app)
    app.outdir = str(tmp_path)
    mathjax_offline._copy_into_build(app, None)
    copied = [p for p in (tmp_path / "_static" / "mathjax").rglob("*") if p.is_file()]
    assert len(copied) == len(mathjax_offline.bundle_files(mathjax_offline.mathjax_source()))


def test_screenshot_is_a_full_page_png(tiny):
    _, shot, _, _ = tiny
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_known_errors_exempt_only_what_they_match(tmp_path):
    exe = require_chromium()
    write(tmp_path / "a.html", html(
        "<script>console.error('noise from a theme');</script>"
        "<script>throw new Error('a real bug');</script>"
    ))
    report = booktest.check_site(
        tmp_path, chromium=exe, known_errors=[(r"console\.error: noise from a theme.*", "theme")]
    )
    page = report.page("a.html")
    assert page.known_errors[0].startswith("console.error: noise from a theme")
    assert page.js_errors == ["uncaught Error: a real bug"]
    assert not report.ok


def test_expected_figures_counts_rendered_image_outputs(tmp_path):
    text = {"output_type": "stream", "name": "stdout", "text": "hi"}
    html_png = {"output_type": "execute_result", "metadata": {}, "execution_count": 1,
                "data": {"text/html": "<table/>", "image/png": "x", "text/plain": "t"}}
    widget = {"output_type": "display_data", "metadata": {},
              "data": {"application/vnd.jupyter.widget-view+json": {}, "text/plain": "w"}}
    nb = tmp_path / "a.ipynb"
    nb.write_text(notebook([image_output(), image_output("image/jpeg"), text, html_png, widget]))
    assert booktest.expected_figures(nb) == 2  # an output with text/html is rendered as HTML
    nb.write_text(notebook([image_output()], tags=("remove-output",)))
    assert booktest.expected_figures(nb) == 0


def test_toc_pages_of_this_book():
    pages = booktest.toc_pages(ROOT / "_toc.yml")
    assert pages[0] == "book/intro.html"
    assert "book/chapters/06_evaluation.html" in pages


def test_chromium_is_installed():
    """The probe (conftest.py): the only browser test left to fail when Chromium is missing."""
    try:
        version = booktest.check_chromium()
    except booktest.ChromiumMissing as e:
        pytest.fail(f"browser tests: {e} (`make test BROWSER=0` skips them)", pytrace=False)
    assert version.lower().startswith(("chromium", "google chrome")), version


def test_missing_chromium_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.delenv("QDLOC_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(booktest.ChromiumMissing, match="apt-get install -y chromium"):
        booktest.find_chromium()
    monkeypatch.setenv("QDLOC_CHROMIUM", str(tmp_path / "nope"))
    with pytest.raises(booktest.ChromiumMissing, match="not an executable"):
        booktest.find_chromium()


@pytest.mark.book
def test_built_book_in_chromium():
    """Every page of _build/html in headless Chromium; screenshot of chapter 06."""
    site = ROOT / "_build" / "html"
    if not (site / "index.html").is_file():
        pytest.fail(f"the book is not built ({site}/index.html is missing): run `make html`",
                    pytrace=False)
    require_chromium()
    report = booktest.check_book(ROOT)
    print(report.summary())
    assert report.ok, "the built book fails in Chromium:\n" + report.summary()
    for page in booktest.MATHS_PAGES:
        assert report.page(page).maths_rendered > 0, page
    assert sum(p.maths_rendered for p in report.pages) > 0
    checked = {p.path for p in report.pages}
    for page in booktest.toc_pages(ROOT / "_toc.yml"):
        assert page in checked, page
        if booktest.CHAPTER_RE.search(page):
            rep = report.page(page)
            assert rep.figures_expected is not None, f"{page}: figures were not counted"
    shot = ROOT / "_build" / "screenshots" / "06_evaluation.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
