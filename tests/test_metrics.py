"""Tests of qdloc.eval.metrics, with hand-computed expectations.

Unless a test says otherwise the pixel size is 70 nm, so 1 px = 70 nm and the
paper's tolerances 70 / 140 / 210 nm are 1 / 2 / 3 px.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qdloc.eval.checks import finite_1d
from qdloc.eval.metrics import (
    PAPER_EPS_NM,
    auc_pr,
    auc_table,
    average_precision,
    detection_metrics,
    f1_integral,
    match_predictions,
    precision_recall,
    precision_recall_from_match,
)


# --------------------------------------------------------------------------
# Slow, literal references (used only here, to cross-check the vectorised code)
# --------------------------------------------------------------------------
def slow_match(frame, x, y, score, truth_xy, eps_nm, pixel_size_nm=70.0):
    """Greedy walk down the ranking, one prediction at a time."""
    ranking = sorted(range(len(score)), key=lambda i: -score[i])  # Python sort is stable
    matched = set()
    is_tp, dist = [], []
    for i in ranking:
        f = int(frame[i])
        d = math.hypot(x[i] - truth_xy[f][0], y[i] - truth_xy[f][1]) * pixel_size_nm
        dist.append(d)
        if d <= eps_nm and f not in matched:
            matched.add(f)
            is_tp.append(True)
        else:
            is_tp.append(False)
    return ranking, is_tp, dist


def slow_pr(frame, x, y, score, truth_xy, eps_nm, pixel_size_nm=70.0):
    """One point per distinct threshold t: count TP/FP among score >= t."""
    ranking, is_tp, _ = slow_match(frame, x, y, score, truth_xy, eps_nm, pixel_size_nm)
    ranked_scores = [score[i] for i in ranking]
    recall, precision, thresholds = [], [], []
    for t in sorted(set(score), reverse=True):
        kept = [tp for s, tp in zip(ranked_scores, is_tp, strict=True) if s >= t]
        n_tp = sum(kept)
        recall.append(n_tp / len(truth_xy))
        precision.append(n_tp / len(kept))
        thresholds.append(t)
    return recall, precision, thresholds


def slow_ap(recall, precision):
    """Pascal VOC 2010 devkit style: sentinels, envelope loop, sum over recall changes."""
    mrec = [0.0, *recall, 1.0]
    mpre = [0.0, *precision, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum(
        (mrec[i + 1] - mrec[i]) * mpre[i + 1]
        for i in range(len(mrec) - 1)
        if mrec[i + 1] != mrec[i]
    )


def random_case(rng, n_img, max_pred):
    """Random truths and predictions, with tied scores and near/far predictions."""
    truth = rng.uniform(3.0, 20.0, size=(n_img, 2))
    counts = rng.integers(0, max_pred + 1, size=n_img)
    frame = np.repeat(np.arange(n_img), counts)
    rng.shuffle(frame)
    offset = rng.normal(0.0, 2.0, size=(frame.size, 2))
    x = truth[frame, 0] + offset[:, 0]
    y = truth[frame, 1] + offset[:, 1]
    score = np.round(rng.uniform(0.0, 1.0, size=frame.size), 1)  # many ties
    return frame, x, y, score, truth


# --------------------------------------------------------------------------
# The two-image hand example
# --------------------------------------------------------------------------
# truth: image 0 at (10, 10), image 1 at (20, 20)
#   p0: image 0, (10.5, 10)   score 0.9, d = 0.5 px = 35 nm
#   p1: image 1, (22, 20)     score 0.8, d = 2 px   = 140 nm
#   p2: image 0, (10, 10.25)  score 0.7, d = 0.25 px = 17.5 nm (duplicate on image 0)
#   p3: image 1, (20, 20.75)  score 0.6, d = 0.75 px = 52.5 nm
TRUTH2 = np.array([[10.0, 10.0], [20.0, 20.0]])
PRED2 = pd.DataFrame(
    {
        "frame": [0, 1, 0, 1],
        "x": [10.5, 22.0, 10.0, 20.0],
        "y": [10.0, 20.0, 10.25, 20.75],
        "score": [0.9, 0.8, 0.7, 0.6],
    }
)


def _cols(df):
    return df["frame"], df["x"], df["y"], df["score"]


def test_two_image_example_eps70_by_hand():
    # eps = 70 nm. Ranking p0, p1, p2, p3:
    #   p0 TP (35 <= 70), p1 FP (140 > 70), p2 FP (image 0 taken), p3 TP (52.5 <= 70)
    #   cum TP 1 1 1 2, cum FP 0 1 2 2
    #   precision 1, 1/2, 1/3, 1/2 ; recall 1/2, 1/2, 1/2, 1
    #   envelope (max to the right): 1, 1/2, 1/2, 1/2
    #   AP = (1/2 - 0)*1 + 0*(1/2) + 0*(1/2) + (1 - 1/2)*(1/2) = 0.75
    m = match_predictions(*_cols(PRED2), TRUTH2, 70.0)
    np.testing.assert_array_equal(m.order, [0, 1, 2, 3])
    np.testing.assert_array_equal(m.is_tp, [True, False, False, True])
    np.testing.assert_allclose(m.dist_nm, [35.0, 140.0, 17.5, 52.5])
    assert (m.n_truth, m.n_tp, m.n_fp, m.n_fn) == (2, 2, 2, 0)

    curve = precision_recall(*_cols(PRED2), TRUTH2, 70.0)
    np.testing.assert_allclose(curve.recall, [0.5, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(curve.precision, [1.0, 0.5, 1 / 3, 0.5])
    np.testing.assert_allclose(curve.thresholds, [0.9, 0.8, 0.7, 0.6])
    assert average_precision(curve.recall, curve.precision) == pytest.approx(0.75)
    assert auc_pr(*_cols(PRED2), TRUTH2, 70.0) == pytest.approx(0.75)


def test_two_image_example_eps140_boundary_and_duplicate():
    # eps = 140 nm: p1 is at exactly 140 nm -> TP (inclusive). p3 is then a
    # duplicate on the already-matched image 1 -> FP, although it is close.
    #   TP TP FP FP: precision 1, 1, 2/3, 1/2 ; recall 1/2, 1, 1, 1
    #   AP = 1/2 * 1 + 1/2 * 1 = 1.0
    m = match_predictions(*_cols(PRED2), TRUTH2, 140.0)
    np.testing.assert_array_equal(m.is_tp, [True, True, False, False])
    curve = precision_recall_from_match(m)
    np.testing.assert_allclose(curve.precision, [1.0, 1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(curve.recall, [0.5, 1.0, 1.0, 1.0])
    assert average_precision(curve.recall, curve.precision) == pytest.approx(1.0)


def test_auc_table_two_image_example():
    table = auc_table(PRED2, TRUTH2)
    assert list(table) == [70.0, 140.0, 210.0]
    assert table[70.0] == pytest.approx(0.75)
    assert table[140.0] == pytest.approx(1.0)
    assert table[210.0] == pytest.approx(1.0)
    # A dict of arrays and an (M, 4) array give the same table.
    as_dict = {c: PRED2[c].to_numpy() for c in PRED2.columns}
    assert auc_table(as_dict, TRUTH2) == table
    assert auc_table(PRED2[["frame", "x", "y", "score"]].to_numpy(), TRUTH2) == table
    # Tighter tolerance: only p2 (17.5 nm) is within 20 nm.
    #   ranking p0 FP, p1 FP, p2 TP, p3 FP -> precision 0, 0, 1/3, 1/4;
    #   recall 0, 0, 1/2, 1/2 -> AP = 1/2 * 1/3 = 1/6
    assert auc_table(PRED2, TRUTH2, eps_nm=[20])[20.0] == pytest.approx(1 / 6)


def test_detection_metrics_two_image_example():
    # eps 70: TP = 2 (p0 35 nm, p3 52.5 nm), FP = 2, FN = 0
    #   jaccard 2/4, precision 2/4, recall 2/2, F1 = 2*2/(4+2+0) = 2/3
    #   RMSE = sqrt((35^2 + 52.5^2)/2) = sqrt(1990.625), mean error 43.75
    #   bias x: (0.5*70 + 0)/2 = 17.5 ; bias y: (0 + 0.75*70)/2 = 26.25
    d = detection_metrics(PRED2, TRUTH2, 70.0)
    assert (d["n_tp"], d["n_fp"], d["n_fn"]) == (2, 2, 0)
    assert d["jaccard"] == pytest.approx(0.5)
    assert d["precision"] == pytest.approx(0.5)
    assert d["recall"] == pytest.approx(1.0)
    assert d["f1"] == pytest.approx(2 / 3)
    assert d["rmse_lat_nm"] == pytest.approx(math.sqrt(1990.625))
    assert d["mean_error_nm"] == pytest.approx(43.75)
    assert d["bias_x_nm"] == pytest.approx(17.5)
    assert d["bias_y_nm"] == pytest.approx(26.25)


def test_detection_metrics_with_min_score():
    # min_score 0.65 keeps p0, p1, p2 (score >= 0.65); eps 70:
    #   p0 TP, p1 FP, p2 FP (duplicate), image 1 unmatched -> FN 1
    #   jaccard 1/(1+2+1) = 1/4, precision 1/3, recall 1/2, F1 = 2/(2+2+1) = 0.4
    #   RMSE = 35 (one pair)
    d = detection_metrics(PRED2, TRUTH2, 70.0, min_score=0.65)
    assert (d["n_tp"], d["n_fp"], d["n_fn"]) == (1, 2, 1)
    assert d["jaccard"] == pytest.approx(0.25)
    assert d["precision"] == pytest.approx(1 / 3)
    assert d["recall"] == pytest.approx(0.5)
    assert d["f1"] == pytest.approx(0.4)
    assert d["rmse_lat_nm"] == pytest.approx(35.0)
    # The threshold is inclusive: 0.6 keeps p3 as well.
    assert detection_metrics(PRED2, TRUTH2, 70.0, min_score=0.6)["n_tp"] == 2


# --------------------------------------------------------------------------
# Extreme localisers
# --------------------------------------------------------------------------
def test_perfect_localiser_auc_one():
    truth = np.array([[5.0, 6.0], [7.5, 8.25], [12.0, 3.0]])
    pred = {"frame": [2, 0, 1], "x": truth[[2, 0, 1], 0], "y": truth[[2, 0, 1], 1],
            "score": [0.3, 0.2, 0.1]}
    assert auc_table(pred, truth) == {70.0: 1.0, 140.0: 1.0, 210.0: 1.0}
    d = detection_metrics(pred, truth, 70.0)
    assert (d["jaccard"], d["f1"], d["rmse_lat_nm"]) == (1.0, 1.0, 0.0)


def test_all_wrong_auc_zero():
    # every prediction 4 px = 280 nm away, beyond 210 nm
    truth = np.array([[5.0, 5.0], [10.0, 10.0]])
    pred = {"frame": [0, 1, 1], "x": [9.0, 10.0, 6.0], "y": [5.0, 14.0, 10.0],
            "score": [0.9, 0.5, 0.1]}
    assert auc_table(pred, truth) == {70.0: 0.0, 140.0: 0.0, 210.0: 0.0}
    d = detection_metrics(pred, truth, 210.0)
    assert (d["n_tp"], d["n_fp"], d["n_fn"]) == (0, 3, 2)
    assert (d["jaccard"], d["precision"], d["recall"], d["f1"]) == (0.0, 0.0, 0.0, 0.0)
    assert math.isnan(d["rmse_lat_nm"])
    assert math.isnan(d["mean_error_nm"])
    # ...but they match at 280 nm
    assert auc_pr(pred["frame"], pred["x"], pred["y"], pred["score"], truth, 280.0) == 1.0


def test_empty_predictions():
    truth = np.array([[5.0, 5.0], [10.0, 10.0]])
    empty = pd.DataFrame({"frame": np.array([], dtype=int), "x": [], "y": [], "score": []})
    m = match_predictions([], [], [], [], truth, 70.0)
    assert (m.n_pred, m.n_tp, m.n_fn) == (0, 0, 2)
    curve = precision_recall([], [], [], [], truth, 70.0)
    assert curve.recall.size == curve.precision.size == curve.thresholds.size == 0
    assert average_precision([], []) == 0.0
    assert auc_table(empty, truth) == {70.0: 0.0, 140.0: 0.0, 210.0: 0.0}
    d = detection_metrics(empty, truth, 70.0)
    assert (d["recall"], d["precision"], d["jaccard"], d["f1"]) == (0.0, 0.0, 0.0, 0.0)
    assert (d["n_tp"], d["n_fp"], d["n_fn"]) == (0, 0, 2)
    assert f1_integral(empty, truth) == 0.0


def test_images_without_prediction_are_false_negatives():
    # 3 images, one exact prediction on image 0 only.
    #   curve: one point, recall 1/3, precision 1 -> AP = 1/3
    #   detection: TP 1, FP 0, FN 2 -> jaccard 1/3, recall 1/3, F1 = 2/(2+0+2) = 1/2
    truth = np.array([[5.0, 5.0], [10.0, 10.0], [15.0, 15.0]])
    pred = {"frame": [0], "x": [5.0], "y": [5.0], "score": [0.5]}
    curve = precision_recall(pred["frame"], pred["x"], pred["y"], pred["score"], truth, 70.0)
    np.testing.assert_allclose(curve.recall, [1 / 3])
    np.testing.assert_allclose(curve.precision, [1.0])
    assert auc_table(pred, truth)[70.0] == pytest.approx(1 / 3)
    d = detection_metrics(pred, truth, 70.0)
    assert (d["n_tp"], d["n_fp"], d["n_fn"]) == (1, 0, 2)
    assert d["recall"] == pytest.approx(1 / 3)
    assert d["jaccard"] == pytest.approx(1 / 3)
    assert d["f1"] == pytest.approx(0.5)
    assert d["precision"] == 1.0


# --------------------------------------------------------------------------
# Ties, boundaries, units
# --------------------------------------------------------------------------
def test_tied_scores_enter_the_curve_as_a_group():
    # 2 images; a = FP on image 0 (far), b = TP on image 1; both score 0.9.
    truth = np.array([[5.0, 5.0], [10.0, 10.0]])
    a = (0, 9.0, 5.0, 0.9)
    b = (1, 10.0, 10.0, 0.9)
    for rows in ([a, b], [b, a]):  # both input orders
        frame, x, y, score = (list(c) for c in zip(*rows, strict=True))
        curve = precision_recall(frame, x, y, score, truth, 70.0)
        # One threshold (0.9) -> one point: recall 1/2, precision 1/2, AP = 1/4.
        np.testing.assert_allclose(curve.recall, [0.5])
        np.testing.assert_allclose(curve.precision, [0.5])
        np.testing.assert_allclose(curve.thresholds, [0.9])
        assert auc_pr(frame, x, y, score, truth, 70.0) == pytest.approx(0.25)

    # The naive per-prediction curve depends on the order inside the tie:
    # with b first it has points (1/2, 1) and (1/2, 1/2) and AP = 1/2.
    frame, x, y, score = (list(c) for c in zip(b, a, strict=True))
    m = match_predictions(frame, x, y, score, truth, 70.0)
    np.testing.assert_array_equal(m.order, [0, 1])  # stable: input order kept
    np.testing.assert_array_equal(m.is_tp, [True, False])
    tp = np.cumsum(m.is_tp)
    naive_recall = tp / 2
    naive_precision = tp / np.arange(1, 3)
    assert average_precision(naive_recall, naive_precision) == pytest.approx(0.5)


def test_tie_breaking_is_by_input_order_for_matching():
    # Two tied predictions on the same image, both within eps: the first in
    # input order is the TP, the second the duplicate FP.
    truth = np.array([[5.0, 5.0]])
    m = match_predictions([0, 0], [5.5, 5.0], [5.0, 5.0], [0.7, 0.7], truth, 70.0)
    np.testing.assert_array_equal(m.order, [0, 1])
    np.testing.assert_array_equal(m.is_tp, [True, False])
    np.testing.assert_allclose(m.dist_nm, [35.0, 0.0])
    m = match_predictions([0, 0], [5.0, 5.5], [5.0, 5.0], [0.7, 0.7], truth, 70.0)
    np.testing.assert_allclose(m.dist_nm, [0.0, 35.0])
    np.testing.assert_array_equal(m.is_tp, [True, False])


def test_higher_score_wins_over_closer_prediction():
    # The closer prediction has the lower score: it is the duplicate (FP).
    truth = np.array([[5.0, 5.0]])
    m = match_predictions([0, 0], [5.0, 5.75], [5.0, 5.0], [0.2, 0.8], truth, 70.0)
    np.testing.assert_array_equal(m.order, [1, 0])
    np.testing.assert_array_equal(m.is_tp, [True, False])
    d = detection_metrics({"frame": [0, 0], "x": [5.0, 5.75], "y": [5.0, 5.0],
                           "score": [0.2, 0.8]}, truth, 70.0)
    assert d["rmse_lat_nm"] == pytest.approx(52.5)


def test_distance_exactly_eps_is_a_true_positive():
    truth = np.array([[10.0, 10.0]])
    # 3-4-5 triangle: (13, 14) is 5 px = 350 nm away
    args = ([0], [13.0], [14.0], [1.0], truth)
    assert match_predictions(*args, 350.0).is_tp.tolist() == [True]
    assert match_predictions(*args, np.nextafter(350.0, 0.0)).is_tp.tolist() == [False]
    # 1 px = 70 nm, 3 px = 210 nm: the paper's tolerances at their boundary
    assert match_predictions([0], [11.0], [10.0], [1.0], truth, 70.0).is_tp.tolist() == [True]
    assert match_predictions([0], [10.0], [7.0], [1.0], truth, 210.0).is_tp.tolist() == [True]
    assert match_predictions([0], [10.0], [7.0], [1.0], truth, 209.9).is_tp.tolist() == [False]


def test_eps_nm_versus_pixel_conversion():
    truth = np.array([[10.0, 10.0]])
    args = ([0], [11.5], [10.0], [1.0], truth)  # 1.5 px away
    m = match_predictions(*args, 140.0, pixel_size_nm=100.0)
    np.testing.assert_allclose(m.dist_nm, [150.0])  # 1.5 px * 100 nm
    assert m.is_tp.tolist() == [False]
    assert match_predictions(*args, 150.0, pixel_size_nm=100.0).is_tp.tolist() == [True]
    m = match_predictions(*args, 140.0)  # default 70 nm: 105 nm
    np.testing.assert_allclose(m.dist_nm, [105.0])
    assert m.is_tp.tolist() == [True]
    assert auc_table({"frame": [0], "x": [11.5], "y": [10.0], "score": [1.0]}, truth,
                     pixel_size_nm=100.0) == {70.0: 0.0, 140.0: 0.0, 210.0: 1.0}


def test_frame_given_as_whole_floats():
    m = match_predictions(np.array([1.0, 0.0]), [20.0, 10.0], [20.0, 10.0], [0.5, 0.4],
                          TRUTH2, 70.0)
    np.testing.assert_array_equal(m.frame, [1, 0])
    np.testing.assert_array_equal(m.is_tp, [True, True])


# --------------------------------------------------------------------------
# average_precision on its own
# --------------------------------------------------------------------------
def test_average_precision_uses_the_envelope():
    # Points (0.25, 0.5), (0.5, 1.0), (0.75, 0.4):
    #   envelope 1.0, 1.0, 0.4 -> AP = 0.25*1 + 0.25*1 + 0.25*0.4 = 0.6
    #   (without the envelope it would be 0.25*0.5 + 0.25*1 + 0.25*0.4 = 0.475)
    assert average_precision([0.25, 0.5, 0.75], [0.5, 1.0, 0.4]) == pytest.approx(0.6)
    assert slow_ap([0.25, 0.5, 0.75], [0.5, 1.0, 0.4]) == pytest.approx(0.6)


# --------------------------------------------------------------------------
# F1 integral
# --------------------------------------------------------------------------
def test_f1_integral_hand_example():
    # one image, one prediction 1 px = 70 nm away: F1(eps) = 0 below 70, 1 from 70 on.
    truth = np.array([[10.0, 10.0]])
    pred = {"frame": [0], "x": [11.0], "y": [10.0], "score": [1.0]}
    # grid 0, 70, 140: F1 = 0, 1, 1 -> trapezoid mean = ((0+1)/2 + (1+1)/2)/2 = 0.75
    assert f1_integral(pred, truth, eps_max_nm=140.0, n=3) == pytest.approx(0.75)
    # exact: F1 = 1 on [70, 140] -> 70/140 = 0.5
    assert f1_integral(pred, truth, eps_max_nm=140.0, n=None) == pytest.approx(0.5)
    # a fine grid approaches the exact value
    assert f1_integral(pred, truth, eps_max_nm=140.0, n=14001) == pytest.approx(0.5, abs=1e-3)
    # default grid: 0..210 nm in 1 nm steps; F1 = 1 on [70, 210]:
    #   trapezoid mean = (140 + 0.5) / 210 (the step at 70 costs half a cell)
    assert f1_integral(pred, truth) == pytest.approx(140.5 / 210)


def test_f1_integral_matches_detection_metrics_on_grid():
    rng = np.random.default_rng(0)
    frame, x, y, score, truth = random_case(rng, n_img=30, max_pred=3)
    pred = {"frame": frame, "x": x, "y": y, "score": score}
    n = 31
    grid = 210.0 * np.arange(n) / (n - 1)
    f1 = np.array([detection_metrics(pred, truth, e)["f1"] for e in grid])
    expected = (f1.sum() - 0.5 * (f1[0] + f1[-1])) / (n - 1)
    assert f1_integral(pred, truth, eps_max_nm=210.0, n=n) == pytest.approx(expected)
    # with a threshold, only the kept rows count
    f1_thr = np.array([detection_metrics(pred, truth, e, min_score=0.5)["f1"] for e in grid])
    expected_thr = (f1_thr.sum() - 0.5 * (f1_thr[0] + f1_thr[-1])) / (n - 1)
    assert f1_integral(pred, truth, n=n, min_score=0.5) == pytest.approx(expected_thr)
    assert expected_thr != pytest.approx(expected)


# --------------------------------------------------------------------------
# Vectorised vs slow reference, random data
# --------------------------------------------------------------------------
@pytest.mark.parametrize("eps_nm", [0.0, 35.0, 70.0, 140.0, 210.0])
def test_vectorised_matches_slow_reference(eps_nm):
    rng = np.random.default_rng(0)
    for _ in range(20):
        frame, x, y, score, truth = random_case(rng, n_img=int(rng.integers(1, 40)),
                                                max_pred=4)
        m = match_predictions(frame, x, y, score, truth, eps_nm)
        ranking, is_tp, dist = slow_match(frame.tolist(), x.tolist(), y.tolist(),
                                          score.tolist(), truth.tolist(), eps_nm)
        np.testing.assert_array_equal(m.order, ranking)
        np.testing.assert_array_equal(m.is_tp, is_tp)
        np.testing.assert_allclose(m.dist_nm, dist, rtol=1e-12)

        curve = precision_recall_from_match(m)
        recall, precision, thresholds = slow_pr(frame.tolist(), x.tolist(), y.tolist(),
                                                score.tolist(), truth.tolist(), eps_nm)
        np.testing.assert_allclose(curve.recall, recall)
        np.testing.assert_allclose(curve.precision, precision)
        np.testing.assert_allclose(curve.thresholds, thresholds)
        assert average_precision(curve.recall, curve.precision) == pytest.approx(
            slow_ap(recall, precision)
        )


def test_random_data_has_ties_and_duplicates():
    # Guard that the random cross-check exercises ties and duplicate FPs.
    rng = np.random.default_rng(0)
    frame, x, y, score, truth = random_case(rng, n_img=30, max_pred=4)
    assert np.unique(score).size < score.size
    m = match_predictions(frame, x, y, score, truth, 210.0)
    within = m.dist_nm <= 210.0
    assert np.any(within & ~m.is_tp)  # a duplicate within eps counted as FP
    assert 0 < m.n_tp < truth.shape[0]


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------
GOOD = {"frame": [0, 1], "x": [10.0, 20.0], "y": [10.0, 20.0], "score": [0.5, 0.4]}


def _call(**override):
    kw = {**GOOD, "truth_xy": TRUTH2, "eps_nm": 70.0, **override}
    return match_predictions(**kw)


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ({"x": [10.0]}, r"lengths .*'x': 1.*expected one common length"),
        ({"score": [0.5, 0.4, 0.3]}, r"lengths .*'score': 3"),
        ({"frame": [0]}, r"lengths .*'frame': 1"),
        ({"x": [10.0, np.nan]}, r"x\[1\]=nan.*expected finite"),
        ({"y": [np.inf, 20.0]}, r"y\[0\]=inf.*expected finite"),
        ({"score": [np.nan, 0.4]}, r"score\[0\]=nan.*expected finite"),
        ({"x": [[10.0, 20.0]]}, r"x has shape \(1, 2\).*1-D"),
        ({"frame": [0, 2]}, r"frame\[1\]=.*2.*expected an image index in \[0, 1\]"),
        ({"frame": [-1, 0]}, r"frame\[0\]=.*-1.*expected an image index"),
        ({"frame": [0.0, 0.5]}, r"frame\[1\]=.*0.5.*expected an integer"),
        ({"frame": [0.0, np.nan]}, r"frame\[1\]=.*nan.*expected an integer"),
        ({"frame": [1e300, 0.0]}, r"frame\[0\]=.*1e\+300.*expected an image index"),
        ({"frame": ["a", "b"]}, r"frame has dtype .*expected integer"),
        ({"frame": [[0, 1]]}, r"frame has shape \(1, 2\)"),
        ({"truth_xy": np.zeros((2, 3))}, r"truth_xy has shape \(2, 3\).*expected shape \(N, 2\)"),
        ({"truth_xy": np.zeros(2)}, r"truth_xy has shape \(2,\)"),
        ({"truth_xy": np.zeros((0, 2))}, r"truth_xy has shape \(0, 2\).*N >= 1"),
        ({"truth_xy": [[1.0, np.nan], [2.0, 2.0]]}, r"truth_xy\[0, 1\]=nan.*finite"),
        ({"eps_nm": -1.0}, r"eps_nm=-1.0.*>= 0"),
        ({"eps_nm": np.nan}, r"eps_nm=nan"),
        ({"eps_nm": "70"}, None),  # a numeric string is accepted, see below
        ({"eps_nm": "far"}, r"eps_nm='far'.*finite number"),
        ({"eps_nm": True}, r"eps_nm=True.*not a bool"),
        ({"pixel_size_nm": 0.0}, r"pixel_size_nm=0.0.*> 0"),
        ({"pixel_size_nm": -70.0}, r"pixel_size_nm=-70.0.*> 0"),
    ],
)
def test_match_predictions_rejects_bad_input(override, pattern):
    if pattern is None:
        assert _call(**override).n_tp == 2
        return
    with pytest.raises(ValueError, match=pattern):
        _call(**override)


def test_n_truth_zero_raises_for_auc():
    with pytest.raises(ValueError, match=r"truth_xy has shape \(0, 2\)"):
        auc_pr([], [], [], [], np.zeros((0, 2)), 70.0)
    with pytest.raises(ValueError, match=r"truth_xy has shape \(0, 2\)"):
        auc_table({"frame": [], "x": [], "y": [], "score": []}, np.zeros((0, 2)))


@pytest.mark.parametrize(
    ("recall", "precision", "pattern"),
    [
        ([0.5, 1.0], [1.0], r"recall has length 2 and precision has length 1"),
        ([0.5, np.nan], [1.0, 1.0], r"recall\[1\]=nan"),
        ([0.5, 1.0], [1.0, np.nan], r"precision\[1\]=nan"),
        ([0.5, 1.5], [1.0, 1.0], r"recall\[1\]=1.5.*\[0, 1\]"),
        ([0.5, 1.0], [-0.1, 1.0], r"precision\[0\]=-0.1.*\[0, 1\]"),
        ([0.5, 0.25], [1.0, 1.0], r"recall\[1\]=0.25 < recall\[0\]=0.5.*non-decreasing"),
    ],
)
def test_average_precision_rejects_bad_input(recall, precision, pattern):
    with pytest.raises(ValueError, match=pattern):
        average_precision(recall, precision)


def test_dataframe_inputs_rejected():
    bad = PRED2.drop(columns=["score"])
    with pytest.raises(ValueError, match=r"pred lacks column\(s\) \['score'\]"):
        auc_table(bad, TRUTH2)
    with pytest.raises(ValueError, match=r"pred lacks column\(s\) \['x'\]"):
        detection_metrics({"frame": [0], "y": [1.0], "score": [1.0]}, TRUTH2, 70.0)
    with pytest.raises(ValueError, match=r"pred has shape \(2, 3\)"):
        auc_table(np.zeros((2, 3)), TRUTH2)
    with pytest.raises(ValueError, match=r"pred=.*expected a DataFrame"):
        auc_table([[0, 1.0, 1.0, 1.0]], TRUTH2)
    nan_score = PRED2.assign(score=[0.9, np.nan, 0.7, 0.6])
    with pytest.raises(ValueError, match=r"score\[1\]=nan"):
        auc_table(nan_score, TRUTH2)
    nan_x = PRED2.assign(x=[10.5, 22.0, np.nan, 20.0])
    with pytest.raises(ValueError, match=r"x\[2\]=nan"):
        detection_metrics(nan_x, TRUTH2, 70.0)
    with pytest.raises(ValueError, match=r"eps_nm=-70.0"):
        auc_table(PRED2, TRUTH2, eps_nm=[70.0, -70.0])


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"min_score": np.nan}, r"min_score=nan.*finite number"),
        ({"min_score": "high"}, r"min_score='high'"),
        ({"min_score": True}, r"min_score=True"),
        ({"eps_nm": -5.0}, r"eps_nm=-5.0"),
        ({"pixel_size_nm": np.inf}, r"pixel_size_nm=inf"),
    ],
)
def test_detection_metrics_rejects_bad_input(kwargs, pattern):
    kw = {"eps_nm": 70.0, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        detection_metrics(PRED2, TRUTH2, **kw)


def test_detection_metrics_min_score_still_checks_lengths():
    pred = {"frame": [0, 1], "x": [10.0], "y": [10.0, 20.0], "score": [0.5, 0.4]}
    with pytest.raises(ValueError, match=r"lengths .*'x': 1"):
        detection_metrics(pred, TRUTH2, 70.0, min_score=0.45)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"eps_max_nm": 0.0}, r"eps_max_nm=0.0.*> 0"),
        ({"eps_max_nm": -10.0}, r"eps_max_nm=-10.0"),
        ({"n": 1}, r"n=1.*integer >= 2"),
        ({"n": 10.0}, r"n=10.0.*integer >= 2"),
        ({"n": True}, r"n=True"),
        ({"pixel_size_nm": 0.0}, r"pixel_size_nm=0.0"),
    ],
)
def test_f1_integral_rejects_bad_input(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        f1_integral(PRED2, TRUTH2, **kwargs)


def test_f1_integral_rejects_bad_predictions():
    with pytest.raises(ValueError, match=r"frame\[0\]=.*5.*expected an image index"):
        f1_integral({"frame": [5], "x": [1.0], "y": [1.0], "score": [1.0]}, TRUTH2)


def test_paper_eps():
    assert PAPER_EPS_NM == (70.0, 140.0, 210.0)


def test_finite_1d_names_the_first_bad_element_and_counts_them():
    assert finite_1d("x", [1, 2.5]).dtype == np.float64
    with pytest.raises(ValueError, match=r"x\[1\]=nan is not allowed \(2 non-finite value\(s\) in all\)"):
        finite_1d("x", [0.0, np.nan, np.inf])
    with pytest.raises(ValueError, match=r"x has shape \(1, 2\)"):
        finite_1d("x", [[1, 2]])
    with pytest.raises(ValueError, match=r"x='abc' is not allowed"):
        finite_1d("x", "abc")
