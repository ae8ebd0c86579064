"""The sets of the paper (§4.1): one definition of their names, sizes, seeds and D."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["SetSpec", "PAPER_PRESET", "PAPER_TEST_NAMES"]


@dataclass(frozen=True)
class SetSpec:
    """One set of a preset: folder name, size, seed, D (a float or ``("uniform", low, high)``)."""

    name: str
    n: int
    seed: int
    D: float | tuple[str, float, float]
    description: str = ""


#: The sets of the paper's §4.1, by folder name.
PAPER_PRESET: Mapping[str, SetSpec] = MappingProxyType(
    {
        "train": SetSpec(
            "train", 29838, 1, ("uniform", 0.75, 1.75), "training set, D uniform per image"
        ),
        "val": SetSpec(
            "val", 2984, 2, ("uniform", 0.75, 1.75), "validation split (10 %) for model selection"
        ),
        "test_D0.75": SetSpec("test_D0.75", 2570, 10, 0.75, "test set, D = 0.75 µm²/s"),
        "test_D1": SetSpec("test_D1", 2410, 11, 1.0, "test set, D = 1 µm²/s"),
        "test_D1.75": SetSpec("test_D1.75", 1870, 12, 1.75, "test set, D = 1.75 µm²/s"),
    }
)


#: The paper's three test sets, in the order of its Table 1.
PAPER_TEST_NAMES: tuple[str, ...] = ("test_D0.75", "test_D1", "test_D1.75")
