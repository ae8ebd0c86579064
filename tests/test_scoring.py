"""qdloc.study.scoring: localisations scored against a set on disk (`qdloc evaluate`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from qdloc.data.dataset import load_dataset, write_dataset
from qdloc.study.scoring import score_predictions


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("scoring") / "set", 40, seed=5, D=1.0,
                         progress=False)


def _at_truth(path, shift_px: float = 0.0) -> pd.DataFrame:
    xy = load_dataset(path).truth_xy
    return pd.DataFrame({"frame": np.arange(len(xy)), "x": xy[:, 0] + shift_px, "y": xy[:, 1],
                         "score": np.linspace(1, 0.5, len(xy))})


def test_perfect_and_shifted_predictions(tiny_set):
    res = score_predictions(_at_truth(tiny_set), tiny_set)
    assert res["eps_nm"] == [70.0, 140.0, 210.0] and res["n_images"] == 40
    assert res["auc"] == {"70": 1.0, "140": 1.0, "210": 1.0}
    assert res["metrics"]["140"]["rmse_lat_nm"] == 0.0 and res["f1_integral_eps_max_nm"] == 210.0
    # every prediction 1.5 px (105 nm at 70 nm pixels) off: missed at 70 nm, found at 140 nm
    px = res["pixel_size_nm"]
    res = score_predictions(_at_truth(tiny_set, 1.5), tiny_set, eps_nm=[70, 140])
    assert res["auc"] == {"70": 0.0, "140": 1.0}
    assert res["metrics"]["140"]["rmse_lat_nm"] == pytest.approx(1.5 * px, rel=1e-9)
    assert res["metrics"]["70"]["recall"] == 0.0
    # the F1 integral over 0..140 nm: F1 is 1 from 105 nm on, 0 below
    assert res["f1_integral"] == pytest.approx(35 / 140, abs=0.02)
    json.dumps(res, allow_nan=False)  # plain numbers only


def test_undefined_numbers_are_none_and_bad_input_is_named(tiny_set):
    empty = pd.DataFrame({"frame": [], "x": [], "y": [], "score": []})
    res = score_predictions(empty, tiny_set, eps_nm=[140])
    assert res["n_predictions"] == 0 and res["metrics"]["140"]["rmse_lat_nm"] is None
    json.dumps(res, allow_nan=False)
    with pytest.raises(ValueError, match=r"eps_nm=\[-1.0\]"):
        score_predictions(empty, tiny_set, eps_nm=[-1])
    bad = _at_truth(tiny_set).assign(frame=1000)
    with pytest.raises(ValueError, match="predictions against"):
        score_predictions(bad, tiny_set)
