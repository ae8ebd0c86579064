"""Sphinx extension: MathJax bundled into the built book, so that maths renders offline.

Sphinx loads MathJax 3 from a CDN by default; read offline (or behind a firewall) the book
then shows raw TeX such as ``\\(\\varepsilon\\)``. This extension copies MathJax 3.2.2 from
the ``django-static-mathjax`` wheel (PyPI, pinned in requirements.txt; a plain copy of
MathJax's ``es5`` build with no dependencies) into ``_build/html/_static/mathjax/``, and
``_config.yml`` points Sphinx at it::

    sphinx:
      local_extensions:
        mathjax_offline: tools/
      config:
        mathjax_path: mathjax/tex-mml-chtml.js

(a relative ``mathjax_path`` is resolved against ``_static/``). Only what the page needs is
copied (:func:`bundle_files`): the ``tex-mml-chtml.js`` component that Sphinx 7 loads by
default, the TeX/MathML extensions it autoloads, the CHTML fonts, the menu, and the
accessibility modules the menu can switch on; the other combined components and the SVG
output are left out (about 8 MB instead of 24 MB).
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from sphinx.errors import ExtensionError

#: The component Sphinx 7 loads by default (its CDN default is ``mathjax@3/es5/tex-mml-chtml.js``).
COMPONENT = "tex-mml-chtml.js"
#: Folders of the ``es5`` build that the component loads on demand.
FOLDERS = ("adaptors", "input", "output/chtml", "ui", "a11y", "sre")
#: Where the bundle goes, under the built site's ``_static/``.
TARGET = "mathjax"


def mathjax_source() -> Path:
    """The ``es5`` folder of MathJax in the installed ``django-static-mathjax`` wheel."""
    try:
        root = resources.files("mathjax")
    except ModuleNotFoundError as e:
        raise ExtensionError(
            "MathJax is not installed: pip install -r requirements.txt -c constraints.txt "
            "(package django-static-mathjax)"
        ) from e
    es5 = Path(str(root)) / "static" / "mathjax" / "es5"
    if not (es5 / COMPONENT).is_file():
        raise ExtensionError(f"{es5 / COMPONENT} is missing: reinstall django-static-mathjax")
    return es5


def bundle_files(source: Path) -> list[Path]:
    """The files of ``source`` (an ``es5`` folder) that the book needs, relative to it."""
    files = [Path(COMPONENT)]
    for folder in FOLDERS:
        files += sorted(p.relative_to(source) for p in (source / folder).rglob("*") if p.is_file())
    return files


def copy_bundle(source: Path, target: Path) -> int:
    """Copy :func:`bundle_files` of ``source`` into ``target``; return the number of files."""
    files = bundle_files(source)
    for rel in files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, dest)
    return len(files)


def _check(app) -> None:
    """Fail early (``builder-inited``): MathJax installed and ``mathjax_path`` pointing at it."""
    if app.builder.format != "html":
        return
    mathjax_source()
    if app.config.mathjax_path != f"{TARGET}/{COMPONENT}":
        raise ExtensionError(
            f"mathjax_path is {app.config.mathjax_path!r}; the bundled MathJax is loaded with "
            f"mathjax_path: {TARGET}/{COMPONENT} (_config.yml, sphinx: config:)"
        )


def _copy_into_build(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        copy_bundle(mathjax_source(), Path(app.outdir) / "_static" / TARGET)


def setup(app) -> dict:
    """Check the set-up when the builder starts; copy the bundle once the HTML is written."""
    app.connect("builder-inited", _check)
    app.connect("build-finished", _copy_into_build)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
