"""The paper's numbers, in one place: its test sets, its Table 1 rows and tolerances.

Every chapter and study quotes the paper from here (nothing else types these values).
"""

from __future__ import annotations

from qdloc.data.presets import PAPER_PRESET, PAPER_TEST_NAMES
from qdloc.eval.metrics import PAPER_EPS_NM

__all__ = [
    "PAPER_EPS_NM",
    "PAPER_TEST_SETS",
    "CALIBRATION_SETS",
    "PAPER_TRACKPY_ROW",
    "PAPER_FCNN_ROW",
    "TOLERANCE",
]


#: The paper's three test sets (§4.1): name -> (images, seed, D in µm²/s).
#: The seeds are this project's (chapter 04, :mod:`qdloc.data.dataset`).
PAPER_TEST_SETS: dict[str, tuple[int, int, float]] = {
    name: (PAPER_PRESET[name].n, PAPER_PRESET[name].seed, float(PAPER_PRESET[name].D))
    for name in PAPER_TEST_NAMES
}


#: Calibration sets (this project's, not the paper's): the test sets' sizes and D, with seeds
#: disjoint from every seed of the paper's sets (1, 2, 10, 11, 12), of the chapters' other images
#: and of the compact network's fresh training images (1,000,000 and up). The unknowns are fitted
#: on these; Table 1 is reported on :data:`PAPER_TEST_SETS`, out of sample.
CALIBRATION_SETS: dict[str, tuple[int, int, float]] = {
    f"calib_D{D:g}": (n, 1000 + seed, D) for n, seed, D in PAPER_TEST_SETS.values()
}


#: Table 1, TrackPy: {D µm²/s: {eps nm: AUC}}.
PAPER_TRACKPY_ROW: dict[float, dict[float, float]] = {
    0.75: {70.0: 0.06, 140.0: 0.42, 210.0: 0.73},
    1.0: {70.0: 0.04, 140.0: 0.30, 210.0: 0.61},
    1.75: {70.0: 0.02, 140.0: 0.19, 210.0: 0.47},
}


#: Table 1, FCNN (the paper's Keypoint R-CNN): {D µm²/s: {eps nm: AUC}}.
PAPER_FCNN_ROW: dict[float, dict[float, float]] = {
    0.75: {70.0: 0.48, 140.0: 0.91, 210.0: 0.99},
    1.0: {70.0: 0.41, 140.0: 0.87, 210.0: 0.98},
    1.75: {70.0: 0.26, 140.0: 0.72, 210.0: 0.92},
}


#: Largest allowed ``|ours - paper|`` in any cell of the TrackPy row.
TOLERANCE = 0.05
