"""Chapter 07's report (qdloc.study.tracking) and the detector study's summaries."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from qdloc import SimParams, simulate_movie
from qdloc.study import tracking as st
from qdloc.study.detector import describe_detector_effects, detector_auc, detector_effects
from qdloc.transport.censored import window_px
from qdloc.transport.diffusion import scanner_blur_coefficient

P = SimParams()


def _bias_table() -> pd.DataFrame:
    rows = []
    bias = {"truth": (-0.05, -0.04, -0.08), "compact": (-0.1, 0.17, -0.12),
            "trackpy": (1.5, 2.7, 0.8)}
    for m, b in bias.items():
        for D, rb in zip((0.25, 1.0, 3.0), b, strict=True):
            rows.append({"D_true": D, "method": m, "n_tracks": 100, "D_um2_per_s": D * (1 + rb),
                         "D_err_um2_per_s": 0.0123456789, "rel_bias": rb,
                         "rel_bias_uncensored": rb - 0.1, "sigma_nm": 40.123456,
                         "n_tracks_fitted": 50.0, "rel_iqr_per_track": 0.5})
    return pd.DataFrame(rows)


def _detector_table() -> pd.DataFrame:
    rows = []
    for bidi in (False, True):
        for F in (1.0, 1.5):
            for name, base in (("TrackPy", 0.3), ("Compact", 0.9), ("Compact trained with F=1.5",
                                                                     0.9)):
                drop = (F - 1) * (0.08 if name == "TrackPy" else
                                  0.06 if name == "Compact" else 0.02)
                rows.append({"excess_noise": F, "bidirectional": bidi, "localiser": name,
                             "auc_70": 0.1, "auc_140": base - drop - (0.02 if bidi else 0.0),
                             "auc_210": 1.0})
    return pd.DataFrame(rows)


def test_frame_steps_is_the_rms_step_per_axis():
    s = st.frame_steps(P, [0.0, 1.0, 4.0])
    expect = np.sqrt(2 * np.array([0.0, 1.0, 4.0]) * P.frame_period_s) / P.pixel_size_um
    np.testing.assert_allclose(s["step_px"], expect)
    assert s["step_px"][2] == pytest.approx(2 * s["step_px"][1])
    with pytest.raises(ValueError, match="D_values"):
        st.frame_steps(P, [-1.0])


def test_max_abs_rel_bias_only_inside_the_range():
    worst = st.max_abs_rel_bias(_bias_table(), ["truth", "compact", "trackpy"], 0.5, 2.0)
    assert worst == {"truth": 0.04, "compact": 0.17, "trackpy": 2.7}  # only D = 1 is in range
    wide = st.max_abs_rel_bias(_bias_table(), ["compact"], 0.0, 5.0)
    assert wide == {"compact": 0.17}
    with pytest.raises(ValueError, match="frcnn"):
        st.max_abs_rel_bias(_bias_table(), ["frcnn"])


def test_beats_at_every_D():
    t = _bias_table()
    assert st.beats_at_every_D(t, "compact", "trackpy")
    assert not st.beats_at_every_D(t, "compact", "truth")
    with pytest.raises(ValueError, match="frcnn"):
        st.beats_at_every_D(t, "frcnn", "truth")


def test_frames_before_exit_counts_frames_inside_the_window():
    x0, x1, y0, y1 = window_px(P, 1.0)
    mid = ((x0 + x1) / 2, (y0 + y1) / 2)
    c = np.tile(np.array(mid), (2, 6, 1))
    c[0, 3:] = (x1 + 0.5, mid[1])  # leaves after 3 frames
    c[1, 2, 0] = x1 - 1.0  # stays (inside a 1 px margin, outside a 2.5 px one)
    stay = st.frames_before_exit(c, P, [1.0, 2.5])
    assert stay[1.0] == pytest.approx((3 + 6) / 2)
    assert stay[2.5] == pytest.approx((3 + 2) / 2)
    with pytest.raises(ValueError, match="shape"):
        st.frames_before_exit(c[0], P, [1.0])


def test_frames_before_exit_of_fast_dots_is_a_few_frames():
    """At D = 2 the dot moves about 4.8 px per frame and per axis: it leaves within ~5 frames."""
    mv = simulate_movie(200, 20, P, seed=3, D=2.0, photons=False)
    stay = st.frames_before_exit(mv.centroids, P, [1.0, 4.0])
    assert 1 < stay[4.0] < stay[1.0] < 8


def test_tracking_results_and_files(tmp_path):
    table, det = _bias_table(), _detector_table()
    per_track = pd.DataFrame({"D_true": [1.0, 1.0], "method": ["truth", "compact"],
                              "D_um2_per_s": [1.23456789, 0.9]})
    r = st.tracking_results(table, det, P, 1.0, {"truth": 10, "compact": 10}, 30, 70,
                            methods=("truth", "compact", "trackpy"))
    assert r["frame_interval_s"] == P.frame_period_s and r["blur_R"] == scanner_blur_coefficient(P)
    assert r["window_px"] == list(window_px(P, 1.0))
    assert r["bias"][0]["D_err_um2_per_s"] == 0.01235 and r["bias"][0]["n_tracks"] == 100
    assert list(r["bias"][0]) == list(st.BIAS_COLUMNS)
    assert r["max_abs_rel_bias_0.5_to_2"] == {"truth": 0.04, "compact": 0.17, "trackpy": 2.7}
    assert r["compact_beats_trackpy_at_every_D"] is True
    assert len(r["detector_auc"]) == len(det)
    js, csv = st.write_tracking_results(tmp_path / "out", r, per_track)
    assert json.loads(js.read_text()) == json.loads(json.dumps(r))
    back = pd.read_csv(csv)
    assert back["D_um2_per_s"].tolist() == [1.234568, 0.9]
    assert csv.read_bytes().count(b"\r") == 0


def test_example_tracks_links_one_movie():
    mv = simulate_movie(1, 12, P, seed=4, D=0.25)
    tracks, counts = st.example_tracks(mv.images[0], {"tp": ("trackpy", None)}, 0.05, P)
    assert list(counts.columns) == ["method", "localisations", "tracks"]
    assert counts.loc[0, "localisations"] == len(tracks["tp"]) and len(tracks["tp"]) >= 6
    assert 1 <= counts.loc[0, "tracks"] <= counts.loc[0, "localisations"]
    assert {"frame", "x", "y", "particle"} <= set(tracks["tp"].columns)


def test_detector_auc_and_effects():
    det = _detector_table()
    assert detector_auc(det, "TrackPy", 1.5) == pytest.approx(0.26)
    assert detector_auc(det, "TrackPy", 1.5, True) == pytest.approx(0.24)
    eff = detector_effects(det, 1.5)
    assert eff["drop_trackpy"] == pytest.approx(0.04)
    assert eff["drop_compact"] == pytest.approx(0.03)
    assert eff["retrained_gain"] == pytest.approx(0.02)
    assert eff["bidirectional_trackpy"] == pytest.approx(-0.02)
    assert eff["bidirectional_compact"] == pytest.approx(-0.02)
    with pytest.raises(ValueError, match="excess_noise=2.0"):
        detector_auc(det, "TrackPy", 2.0)
    assert not math.isnan(eff["drop_compact"])
    text = describe_detector_effects(eff, 1.5)
    assert text.startswith("F = 1.5: AUC@140 drops by 0.040 (TrackPy) and 0.030 (compact)")
    assert "by +0.020" in text and text.endswith("TrackPy -0.020, compact -0.020")


def test_setup_glue_names_the_steps_and_the_blur():
    R = scanner_blur_coefficient(P)
    g = st.setup_glue(P, R, st.frame_steps(P, [0.5, 1.0]), 0.05)
    assert g["height_px"] == 24 and g["width_px"] == 25 and g["false_alarm_pct"] == pytest.approx(5)
    assert g["R"] == R and g["R_uniform"] == pytest.approx(1 / 6)
    assert g["step_D1_px"] == pytest.approx(math.sqrt(2 * P.frame_period_s) / P.pixel_size_um)
    assert "step_D0p5_px" in g and g["frame_ms"] == pytest.approx(27.6)


def test_bias_claims_flags_and_numbers():
    t = _bias_table()
    frcnn = t[t.method == "compact"].assign(method="frcnn", D_err_um2_per_s=0.05)
    t = pd.concat([t, frcnn], ignore_index=True)
    t.loc[(t.method == "compact"), "sigma_nm"] = [40.0, 60.0, 90.0]
    t.loc[(t.method == "trackpy"), "sigma_nm"] = [150.0, 120.0, 300.0]
    flags, numbers = st.bias_claims(t)
    assert flags == {"censoring_helps_truth": True, "truth_low_at_large_D": True,
                     "compact_sigma_grows": True, "frcnn_wider_than_compact": True,
                     "trackpy_sigma_over_100nm": True}
    assert numbers == {"truth_worst_low_pct": pytest.approx(8.0), "compact_sigma_lo_nm": 40.0,
                       "compact_sigma_hi_nm": 90.0, "trackpy_sigma_min_nm": 120.0}
    t.loc[(t.method == "compact") & (t.D_true == 3.0), "sigma_nm"] = 50.0
    assert st.bias_claims(t)[0]["compact_sigma_grows"] is False
    with pytest.raises(ValueError, match=r"\['frcnn'\]"):
        st.bias_claims(_bias_table())
