"""Localise every frame, link with trackpy: the true track comes back from a clean movie.

The movies are built here from Eq. 1 for a still dot per frame
(:func:`qdloc.sim.psf.expected_counts_static`) with Poisson noise from a seeded
Generator, so the truth is the dot's position in each frame exactly.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from qdloc import SimParams
from qdloc.localise.registry import shipped_model
from qdloc.localise.trackpy import QuietTrackpy, TrackpyParams
from qdloc.sim.psf import expected_counts_static
from qdloc.transport.linking import (
    DEFAULT_SEARCH_RANGE_PX,
    link_tracks,
    localise_movie,
    track_movie,
)

BRIGHT = SimParams(n_qd=200.0)  # ~12,000 signal photons per frame: a clean movie

T = 30
_k = np.arange(T)
#: the true path, px: a loop in the middle of the 25 x 24 field, 1 to 2.1 px per frame
TRUE_X = 12.0 + 5.0 * np.cos(2 * np.pi * _k / T)
TRUE_Y = 11.5 + 4.5 * np.sin(4 * np.pi * _k / T)


def movie(xs, ys, params: SimParams, seed: int, extra=None) -> np.ndarray:
    """Poisson frames of a still dot at (xs[t], ys[t]) px; ``extra=(xs2, ys2, n_qd2)`` adds one."""
    rng = np.random.default_rng(seed)
    a = params.pixel_size_um
    frames = []
    for t, (x, y) in enumerate(zip(xs, ys, strict=True)):
        lam = expected_counts_static((x * a, y * a, 0.0), params)
        if extra is not None:
            x2, y2, n2 = extra
            lam = lam + expected_counts_static((x2[t] * a, y2[t] * a, 0.0), params.replace(n_qd=n2))
            lam = lam - params.n_bkg  # one background
        frames.append(rng.poisson(lam))
    return np.stack(frames).astype(np.uint16)


def _errors(tr: pd.DataFrame) -> np.ndarray:
    f = tr["frame"].to_numpy()
    return np.hypot(tr["x"].to_numpy() - TRUE_X[f], tr["y"].to_numpy() - TRUE_Y[f])


@pytest.mark.parametrize("seed", [0, 1])
def test_trackpy_link_recovers_the_true_track_on_a_clean_movie(seed):
    stack = movie(TRUE_X, TRUE_Y, BRIGHT, seed)
    # diameter 11 px holds the PSF (σ = 3 px): unbiased to ~0.1 px on still dots (test_baselines)
    tr = track_movie(stack, "trackpy", params=TrackpyParams(diameter=11))
    assert list(tr.columns[:5]) == ["frame", "x", "y", "particle", "score"]
    assert tr["particle"].nunique() == 1  # one track ...
    assert list(tr["frame"]) == list(range(T))  # ... with every frame, in order
    # within 0.3 px (21 nm) of the truth in every frame (measured: 0.13-0.16 px), far below
    # the 1-2 px steps, so a wrong link would show
    assert _errors(tr).max() < 0.3, _errors(tr).max()
    # the linking does the work: a search range below the steps breaks the track
    broken = track_movie(stack, "trackpy", search_range_px=0.9, params=TrackpyParams(diameter=11))
    assert broken["particle"].nunique() >= 10


def test_compact_model_tracks_a_dot_at_the_paper_brightness():
    model = shipped_model("compact")
    assert model.is_file(), f"the shipped model {model} is missing"
    # the shipped model was trained at the calibrated brightness (n_qd = 7.5): test it there
    stack = movie(TRUE_X, TRUE_Y, SimParams(), seed=3)
    tr = track_movie(stack, "compact")
    assert tr["particle"].nunique() == 1
    assert list(tr["frame"]) == list(range(T))
    # its validation mean error on moving dots is 77.5 nm = 1.1 px (data/models/compact);
    # on these still dots: rms within 1.5 px (measured 0.6 px), every frame within 3 px
    err = _errors(tr)
    assert np.sqrt(np.mean(err**2)) < 1.5 and err.max() < 3.0, err


def test_two_dots_keep_their_identities():
    # two dots 10 px apart moving in parallel, 1 px per frame: two tracks, each on its own path
    n = 12
    x1 = 6.0 + np.arange(n)
    y1 = np.full(n, 6.0)
    y2 = np.full(n, 16.0)
    stack = movie(x1, y1, BRIGHT.replace(n_qd=400.0), seed=4, extra=(x1, y2, 200.0))
    tp = TrackpyParams(diameter=11, separation=8)  # TrackPy's default separation is 12 px
    locs = localise_movie(stack, "trackpy", max_per_frame=None, params=tp)
    assert (locs.groupby("frame").size() == 2).all() and locs["frame"].nunique() == n
    tr = link_tracks(locs, search_range_px=5.0)
    assert tr["particle"].nunique() == 2
    for _, g in tr.groupby("particle"):
        assert len(g) == n
        assert g["y"].std() < 0.3  # each track stays on one row: no identity swap
    # max_per_frame=1 keeps the brighter dot (y = 6); min_score drops the dimmer one
    best = localise_movie(stack, "trackpy", params=tp)
    assert len(best) == n and np.all(np.abs(best["y"] - 6.0) < 0.5)
    by_frame = locs.groupby("frame")["score"]
    cut = 0.5 * (by_frame.min().max() + by_frame.max().min())
    assert by_frame.min().max() < cut < by_frame.max().min()
    kept = localise_movie(stack, "trackpy", max_per_frame=None, min_score=cut, params=tp)
    assert len(kept) == n and np.all(np.abs(kept["y"] - 6.0) < 0.5)


def test_memory_bridges_a_missed_frame():
    locs = pd.DataFrame({"frame": np.arange(10), "x": 5.0 + np.arange(10), "y": np.full(10, 8.0),
                         "score": 1.0})
    gap = locs[locs["frame"] != 4]
    assert link_tracks(gap, 3.0, memory=0)["particle"].nunique() == 2
    one = link_tracks(gap, 3.0, memory=1)
    assert one["particle"].nunique() == 1 and len(one) == 9


def test_link_is_quiet_and_restores_trackpy_logging(capsys):
    import trackpy  # noqa: F401  (importing TrackPy sets its logger's level: do it first)
    logger = logging.getLogger("trackpy")
    before = logger.level
    locs = pd.DataFrame({"frame": [0, 1, 2], "x": [1.0, 2.0, 3.0], "y": [1.0, 1.0, 1.0]})
    tr = link_tracks(locs)
    assert list(tr["particle"]) == [0, 0, 0]
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert logger.level == before
    empty = link_tracks(locs.iloc[:0])
    assert len(empty) == 0 and "particle" in empty.columns


def test_default_search_range_covers_fast_dots():
    # a 2D step at D = 3 µm²/s over one frame exceeds r with probability exp(-r²/(4DΔt)):
    p = SimParams()
    r_um = DEFAULT_SEARCH_RANGE_PX * p.pixel_size_um
    assert np.exp(-(r_um**2) / (4 * 3.0 * p.frame_time_s)) < 2e-4


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: localise_movie(s, "hough"), r"method='hough' is not allowed"),
        (lambda s: localise_movie(s, "trackpy", model_path="m.pt"),
         r"model_path='m.pt' is not used"),
        (lambda s: localise_movie(s, "trackpy", max_per_frame=0),
         r"max_per_frame=0 is not allowed"),
        (lambda s: localise_movie(s[0], "trackpy"), r"stack has shape \(24, 25\)"),
        (lambda s: link_tracks(pd.DataFrame({"x": [1.0]}), 5.0),
         r"no column\(s\) \['frame', 'y'\]"),
        (lambda s: link_tracks(pd.DataFrame({"frame": [0], "x": [1.0], "y": [1.0]}), 0.0),
         r"search_range_px=0.0 is not allowed"),
        (lambda s: link_tracks(pd.DataFrame({"frame": [0], "x": [1.0], "y": [1.0]}), 5.0,
                               memory=-1),
         r"memory=-1 is not allowed"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_value(call, match):
    stack = np.zeros((2, 24, 25), dtype=np.uint16)
    with pytest.raises(ValueError, match=match):
        call(stack)


def test_quiet_trackpy_silences_only_trackpy_s_expected_warnings():
    """TrackPy's logger and known messages are silenced inside the block; other warnings pass."""
    logger = logging.getLogger("trackpy")
    level = logger.level
    with QuietTrackpy():
        assert logger.level > logging.ERROR
        warnings.warn("All local maxima were in the margins.", UserWarning, stacklevel=1)
        warnings.warn("Image is completely black.", UserWarning, stacklevel=1)
        with pytest.warns(UserWarning, match="something else"):
            warnings.warn("something else", UserWarning, stacklevel=1)
    assert logger.level == level
    with pytest.warns(UserWarning, match="Image is completely black"):
        warnings.warn("Image is completely black.", UserWarning, stacklevel=1)
