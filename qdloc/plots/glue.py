"""Numbers for the prose: glue computed values into a chapter with myst-nb.

A chapter computes its numbers in a cell and hands them, as one mapping, to :func:`glue_all`;
its Markdown then quotes them with ``{glue:text}`name:.2f``` instead of typing them, so the text
cannot disagree with the output above it. :func:`plain_values` turns NumPy scalars into plain
Python numbers first: myst-nb formats a glued value by reading back its ``repr``, which for a
NumPy 2 scalar (``np.float64(0.5)``) is not a number and fails a format such as ``.2f``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping

from myst_nb import glue

__all__ = ["glue_all", "plain_values"]

#: A glue name: a Python identifier (the role splits ``name:format`` at the last colon).
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def plain_values(values: Mapping[str, object]) -> dict[str, int | float | str]:
    """Check names and turn values into plain ``int``, ``float`` or ``str``.

    Parameters
    ----------
    values : Mapping[str, object]
        Name -> value. Names are Python identifiers; values are finite real numbers
        (Python or NumPy; not ``bool``) or strings.

    Returns
    -------
    dict[str, int | float | str]
        The same names, in the same order, with integers as ``int``, other reals as ``float``
        and strings unchanged.
    """
    plain: dict[str, int | float | str] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise ValueError(f"glue name {name!r}: expected a Python identifier")
        if isinstance(value, str):
            plain[name] = value
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"glue value {name}={value!r}: expected a real number or a string")
        elif isinstance(value, numbers.Integral):
            plain[name] = int(value)
        elif not math.isfinite(float(value)):
            raise ValueError(f"glue value {name}={value!r}: expected a finite number")
        else:
            plain[name] = float(value)
    return plain


def glue_all(values: Mapping[str, object]) -> None:
    """Glue every value of a mapping under its name, without displaying it.

    Parameters
    ----------
    values : Mapping[str, object]
        Name -> value, as accepted by :func:`plain_values` (checked before anything is glued).

    Returns
    -------
    None
        The values are stored in the cell's outputs, for ``{glue:text}`` roles in the prose.
    """
    for name, value in plain_values(values).items():
        glue(name, value, display=False)
