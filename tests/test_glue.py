"""qdloc.plots.glue, and the chapters' glued prose: every role has its value, no result is typed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import numpy as np
import pytest
from IPython.core.formatters import format_display_data
from myst_nb.core.variables import format_plain_text

from qdloc.plots import glue as qg
from tools.chapter_stats import toc_chapters


def rendered(value, fmt: str) -> str:
    """What a ``{glue:text}`name:fmt``` role shows for a value glued as it is."""
    return format_plain_text(format_display_data(value)[0]["text/plain"], fmt)


def test_numpy_scalars_become_numbers_that_the_role_formats():
    raw = {"auc": np.float64(0.12345), "n": np.int64(2570), "name": "TrackPy", "x": 3}
    plain = qg.plain_values(raw)
    assert plain == {"auc": 0.12345, "n": 2570, "name": "TrackPy", "x": 3}
    assert type(plain["auc"]) is float and type(plain["n"]) is int
    assert list(plain) == list(raw)
    assert rendered(plain["auc"], ".2f") == "0.12"
    assert rendered(plain["n"], ",d") == "2,570"
    assert rendered(plain["name"], "") == "TrackPy"
    # the failure the conversion prevents: NumPy 2's repr is not a number
    with pytest.raises(ValueError, match="could not convert"):
        rendered(np.float64(0.12345), ".2f")


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"a b": 1.0}, "'a b': expected a Python identifier"),
        ({"a:2f": 1.0}, "expected a Python identifier"),
        ({"x": np.nan}, "x=nan: expected a finite number"),
        ({"x": float("inf")}, "expected a finite number"),
        ({"x": True}, "x=True: expected a real number or a string"),
        ({"x": [1.0]}, r"x=\[1.0\]: expected a real number or a string"),
        ({"x": 1 + 2j}, "expected a real number or a string"),
    ],
)
def test_bad_names_and_values_are_refused(values, match):
    with pytest.raises(ValueError, match=match):
        qg.plain_values(values)


def test_glue_all_glues_each_plain_value_hidden(monkeypatch):
    calls = []
    monkeypatch.setattr(qg, "glue", lambda name, value, display: calls.append((name, value, display)))
    assert qg.glue_all({"a": np.float32(0.5), "b": "x"}) is None
    assert calls == [("a", 0.5, False), ("b", "x", False)]
    assert type(calls[0][1]) is float
    # nothing is glued when one value is bad
    calls.clear()
    with pytest.raises(ValueError, match="finite"):
        qg.glue_all({"a": 1.0, "b": np.nan})
    assert calls == []


# --------------------------------------------------------------------------
# The chapters: every glue role has its value; no typed result in chapters 05 onward
# --------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [Path(c).stem for c in toc_chapters()]
ROLE_RE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")
#: a number with two or more decimals (0.75, 1,234.56), not part of a word or a longer number
DECIMALS_RE = re.compile(r"(?<![\w.])\d[\d,]*\.\d{2,}(?![\w.])")


def markdown_text(cell_source: str) -> str:
    """A Markdown cell without its code (fenced or inline) and glue roles: the typed prose."""
    text = re.sub(r"```.*?```", "", cell_source, flags=re.S)
    text = ROLE_RE.sub("", text)
    return re.sub(r"`[^`]*`", "", text)


def glued(nb: dict) -> dict[str, str]:
    """name -> text/plain of every value glued in a stored notebook."""
    out = {}
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                text = o["data"]["application/papermill.record/text/plain"]
                out[name] = "".join(text) if isinstance(text, list) else text
    return out


def test_the_prose_checks_find_typed_numbers():
    assert DECIMALS_RE.findall(markdown_text("AUC 0.42 and 1,366.25 nm, {glue:text}`a:.2f`, `x=0.55`, v0.12")) \
        == ["0.42", "1,366.25"]
    assert ROLE_RE.findall("{glue:text}`auc:.2f` and {glue}`n`") == ["auc:.2f", "n"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_glue_role_has_its_value(chapter):
    nb = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())
    values = glued(nb)
    roles = [r for c in nb["cells"] if c["cell_type"] == "markdown" for r in ROLE_RE.findall("".join(c["source"]))]
    for role in roles:
        name, _, fmt = role.partition(":")
        assert name in values, f"{chapter}: {{glue:text}}`{role}` has no glued value"
        format_plain_text(values[name], fmt)  # the role's format applies to the value


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if c >= "05"])
def test_no_typed_results_from_chapter_05_on(chapter):
    nb = jupytext.read(ROOT / "notebooks" / f"{chapter}.py")
    typed = [n for c in nb.cells if c.cell_type == "markdown" for n in DECIMALS_RE.findall(markdown_text(c.source))]
    assert not typed, f"{chapter}.py: numbers with two or more decimals typed in the prose (glue them): {typed}"
