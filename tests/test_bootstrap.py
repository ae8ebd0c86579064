"""Bootstrap standard errors of Table 1's cells (qdloc.study.bootstrap).

Exact: the weighted curve equals the explicitly resampled set. Statistical (fixed seeds, stated
tolerances): the bootstrap SE agrees with the binomial SE where the AUC is a proportion, and with
the spread of the AUC over independently simulated sets.
"""

import numpy as np
import pandas as pd
import pytest

from qdloc.eval.metrics import auc_pr, match_predictions
from qdloc.study.bootstrap import (
    bootstrap_auc,
    bootstrap_se_row,
    resample_counts,
    weighted_average_precision,
)


def _auc(pred: pd.DataFrame, truth: np.ndarray, eps_nm: float) -> float:
    return auc_pr(pred.frame, pred.x, pred.y, pred.score, truth, eps_nm)


def _localiser(n: int, rng: np.random.Generator, sd_px: float = 1.2, p_extra: float = 0.5):
    """A synthetic localiser: one estimate per image with Gaussian error, its score the negative
    error plus noise, and with probability ``p_extra`` a faint false feature elsewhere."""
    truth = rng.uniform(3, 20, size=(n, 2))
    est = truth + rng.normal(0, sd_px, size=(n, 2))
    err = np.hypot(*(est - truth).T)
    score = -err + rng.normal(0, 0.5, n)
    extra = np.flatnonzero(rng.random(n) < p_extra)
    pred = pd.DataFrame({
        "frame": np.r_[np.arange(n), extra],
        "x": np.r_[est[:, 0], truth[extra, 0] + 6.0],
        "y": np.r_[est[:, 1], truth[extra, 1]],
        "score": np.r_[score, rng.normal(-4.0, 1.0, extra.size)],
    })
    return pred, truth


def test_weighted_ap_equals_the_explicitly_resampled_set():
    rng = np.random.default_rng(1)
    pred, truth = _localiser(60, rng)
    pred.loc[::7, "score"] = 0.0  # tie groups
    pred = pred[pred.frame != 5]  # an image without any prediction
    counts = resample_counts(len(truth), 5, rng)
    m = match_predictions(pred.frame, pred.x, pred.y, pred.score, truth, eps_nm=140.0)
    fast = weighted_average_precision(m, counts)
    for b in range(5):
        images = np.repeat(np.arange(len(truth)), counts[b])
        new = {old: [] for old in range(len(truth))}
        for k, old in enumerate(images):
            new[old].append(k)
        parts = [pred[pred.frame == old].assign(frame=k) for old, ks in new.items() for k in ks]
        dup = pd.concat(parts, ignore_index=True)
        assert fast[b] == pytest.approx(_auc(dup, truth[images], 140.0), abs=1e-12)
    # a row of ones is the original set
    ones = weighted_average_precision(m, np.ones((1, len(truth))))
    assert ones[0] == pytest.approx(_auc(pred, truth, 140.0), abs=1e-12)


def test_bootstrap_se_is_binomial_when_the_auc_is_a_proportion():
    # One estimate per image, every hit scored above every miss: the AUC is the fraction of hits,
    # so its standard error is sqrt(p (1 - p) / n). 2000 resamples estimate it to about 1.6 %.
    rng = np.random.default_rng(2)
    n, p = 400, 0.6
    truth = np.zeros((n, 2))
    hit = rng.random(n) < p
    pred = pd.DataFrame({"frame": np.arange(n), "x": np.where(hit, 0.5, 5.0), "y": 0.0,
                         "score": np.where(hit, 1.0, 0.0) + rng.random(n) * 0.1})
    auc = bootstrap_auc(pred, truth, [140.0], n_resamples=2000, rng=3)[140.0]
    p_hat = hit.mean()
    assert auc.mean() == pytest.approx(p_hat, abs=0.005)
    assert auc.std(ddof=1) == pytest.approx(np.sqrt(p_hat * (1 - p_hat) / n), rel=0.10)


def test_bootstrap_se_matches_the_spread_over_independent_sets():
    # The AUC's standard deviation over 300 independently simulated sets (itself known to about
    # 4 %) against the bootstrap SE averaged over 4 sets (200 resamples each): within 20 %.
    n = 300
    rng = np.random.default_rng(4)
    aucs = [_auc(*_localiser(n, rng), 140.0) for _ in range(300)]
    spread = np.std(aucs, ddof=1)
    se = np.mean([bootstrap_se_row({1.0: _localiser(n, rng)}, [140.0], 200, seed=k).iloc[0, 0]
                  for k in range(4)])
    assert 0.02 < spread < 0.2  # the cell is neither trivial nor saturated
    assert se == pytest.approx(spread, rel=0.20)


def test_bootstrap_se_row_shape_seed_and_errors():
    rng = np.random.default_rng(5)
    feats = {1.75: _localiser(50, rng), 0.75: _localiser(50, rng)}
    a = bootstrap_se_row(feats, n_resamples=30, seed=7)
    assert list(a.index) == [0.75, 1.75] and list(a.columns) == [70.0, 140.0, 210.0]
    assert (a.to_numpy() >= 0).all()
    pd.testing.assert_frame_equal(a, bootstrap_se_row(feats, n_resamples=30, seed=7))
    assert not a.equals(bootstrap_se_row(feats, n_resamples=30, seed=8))
    with pytest.raises(ValueError, match="n_resamples=0"):
        bootstrap_se_row(feats, n_resamples=0)
    with pytest.raises(ValueError, match="seed=-1"):
        bootstrap_se_row(feats, seed=-1)
    m = match_predictions(*(feats[0.75][0][c] for c in ("frame", "x", "y", "score")),
                          feats[0.75][1], eps_nm=70.0)
    with pytest.raises(ValueError, match="expected"):
        weighted_average_precision(m, np.ones((2, 49)))
    counts = resample_counts(10, 3, np.random.default_rng(0))
    assert counts.shape == (3, 10) and (counts.sum(axis=1) == 10).all()


def test_bootstrap_choice_is_sure_of_a_clear_fit_and_split_on_a_tie():
    from qdloc.study.bootstrap import bootstrap_choice

    rng = np.random.default_rng(6)
    good = {D: _localiser(200, rng, sd_px=1.0) for D in (0.75, 1.0)}
    bad = {D: _localiser(200, rng, sd_px=3.0) for D in (0.75, 1.0)}
    target = pd.DataFrame({e: {D: _auc(*good[D], e) for D in good} for e in (70.0, 140.0)})
    clear = bootstrap_choice({1.0: good, 2.0: bad}, target, n_resamples=100, seed=0)
    assert clear.to_dict() == {1.0: 1.0, 2.0: 0.0}
    # the same predictions under two names tie in every resample: the first is picked
    tie = bootstrap_choice({1.0: good, 2.0: good}, target, n_resamples=50, seed=0)
    assert tie.to_dict() == {1.0: 1.0, 2.0: 0.0}
    # two independent draws of the same localiser: neither is sure
    other = {D: _localiser(200, rng, sd_px=1.0) for D in (0.75, 1.0)}
    mid = (target + pd.DataFrame({e: {D: _auc(*other[D], e) for D in other} for e in (70.0, 140.0)})) / 2
    split = bootstrap_choice({1.0: good, 2.0: other}, mid, n_resamples=200, seed=0)
    assert 0.1 < split[1.0] < 0.9, split
    with pytest.raises(ValueError, match="same images"):
        bootstrap_choice({1.0: good, 2.0: {0.75: _localiser(10, rng), 1.0: good[1.0]}}, mid)
