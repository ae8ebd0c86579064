"""The compact localiser: simulate, then recover; resume; model files; symmetries; the CRLB floor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qdloc.eval.bounds import crlb_still_dot_nm
from qdloc.localise.checkpoints import ModelFileError, load_model_file, save_model_file
from qdloc.localise.compact import (
    CompactConfig,
    CompactNet,
    compact_locate,
    rotate180_xy,
    train_compact,
)
from qdloc.localise.train import train
from qdloc.localise.training import check_time_budget, run_epochs
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import simulate

# A bright dot, still or moving: the network must find it to a fraction of a pixel.
BRIGHT = SimParams(n_qd=80.0, start_margin_px=4.0, start_z_sd_um=0.0)
TINY = CompactConfig(width=16, dilations=(1, 2, 1), epochs=3, images_per_epoch=6144, batch_size=128, lr=5e-3,
                     D_range_um2_per_s=(0.0, 1.0), val_tta=False, threads=1)
#: Bounds of the recovery test, mean error on fresh images in px (measured: about 0.45 over all,
#: 0.17 for the still dots; guessing the frame centre is 6 px off, an untrained network as much).
RECOVER_BOUND_PX = 0.6
RECOVER_STILL_BOUND_PX = 0.35


@pytest.fixture(scope="module")
def bright_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("compact_bright")
    result = train("compact", "test", None, out, seed=0, progress=False, params=BRIGHT, config=TINY)
    return result


@pytest.fixture(scope="module")
def fresh_bright():
    # seed 99: not the training stream (1_000_000 + seed) nor the validation split (2);
    # even images still (D = 0), odd ones moving (D = 1 µm²/s), so that some are harder
    D = np.where(np.arange(1024) % 2 == 0, 0.0, 1.0)
    sim = simulate(1024, BRIGHT, seed=99, D=D)
    return sim.images, sim.centroids


def test_config_is_validated():
    with pytest.raises(ValueError, match="width"):
        CompactConfig(width=0)
    with pytest.raises(ValueError, match="dilations"):
        CompactConfig(dilations=(1, 0))
    with pytest.raises(ValueError, match="D_range_um2_per_s"):
        CompactConfig(D_range_um2_per_s=(2.0, 1.0))
    with pytest.raises(ValueError, match="loss"):
        CompactConfig(loss="l1")
    with pytest.raises(ValueError, match="unknown CompactConfig field"):
        CompactConfig.from_dict({"widht": 3})
    c = CompactConfig(width=20, dilations=[1, 3])
    assert CompactConfig.from_dict(c.to_dict()) == c


def test_simulate_then_recover(bright_model, fresh_bright):
    """A short training recovers the centroid of a bright dot to a fraction of a pixel."""
    images, truth = fresh_bright
    pred = compact_locate(images, bright_model.model_path)
    assert list(pred.columns) == ["frame", "x", "y", "score", "sigma_px"]
    assert len(pred) == len(images) and np.array_equal(pred["frame"], np.arange(len(images)))
    err = np.hypot(pred["x"] - truth[:, 0], pred["y"] - truth[:, 1]).to_numpy()
    centre = np.array([(BRIGHT.width_px - 1) / 2, (BRIGHT.height_px - 1) / 2])
    baseline = np.hypot(*(truth - centre).T).mean()
    assert err.mean() < RECOVER_BOUND_PX, (err.mean(), baseline)
    assert err[::2].mean() < RECOVER_STILL_BOUND_PX, err[::2].mean()
    assert err.mean() < baseline / 5
    # the score ranks reliability: the half with the smaller predicted sigma is clearly more accurate
    order = np.argsort(pred["sigma_px"].to_numpy())
    half = len(order) // 2
    assert err[order[:half]].mean() < 0.75 * err[order[half:]].mean()
    assert np.allclose(pred["score"], -pred["sigma_px"])
    # training curves and provenance
    h = bright_model.history
    assert list(h["epoch"]) == [1, 2, 3]
    for col in ("train_loss", "val_auc_70nm", "val_auc_140nm", "val_auc_210nm", "val_mean_error_nm", "epoch_time_s"):
        assert col in h.columns and np.isfinite(h[col]).all(), col
    assert h["train_loss"].iloc[-1] < h["train_loss"].iloc[0]
    assert (bright_model.out_dir / "history.csv").exists()
    assert bright_model.model_path.stat().st_size < 2_000_000
    obj = load_model_file(bright_model.model_path, kind="compact")
    assert obj["sim_params"] == BRIGHT.to_dict()
    assert obj["meta"]["best_epoch"] == bright_model.best_epoch


def test_tta_maps_coordinates(bright_model, fresh_bright):
    H, W = BRIGHT.height_px, BRIGHT.width_px
    # the formula: x' = W - 1 - x, y' = H - 1 - y, its own inverse
    xy = np.array([[0.0, 0.0], [3.25, 7.5], [W - 1.0, H - 1.0]])
    r = rotate180_xy(xy, (H, W))
    assert np.allclose(r, [[W - 1, H - 1], [W - 4.25, H - 8.5], [0, 0]])
    assert np.allclose(rotate180_xy(r, (H, W)), xy)
    # ... agrees with numpy's rotation of the pixels (x = column, y = row)
    img = np.zeros((H, W))
    img[5, 9] = 1.0
    rr, cc = np.unravel_index(np.argmax(np.rot90(img, 2)), img.shape)
    assert np.allclose(rotate180_xy(np.array([9.0, 5.0]), (H, W)), [cc, rr])
    # ... and the averaging inside compact_locate maps each view back before averaging
    images = fresh_bright[0][:256]
    plain = compact_locate(images, bright_model.model_path, tta=False)
    for tta, view in (("rot180", images[:, ::-1, ::-1]), (True, images[:, :, ::-1])):
        other = compact_locate(np.ascontiguousarray(view), bright_model.model_path, tta=False)
        back = other[["x", "y"]].to_numpy()
        back = rotate180_xy(back, (H, W)) if tta == "rot180" else np.c_[W - 1 - back[:, 0], back[:, 1]]
        both = compact_locate(images, bright_model.model_path, tta=tta)
        expect = 0.5 * (plain[["x", "y"]].to_numpy() + back)
        assert np.allclose(both[["x", "y"]].to_numpy(), expect, atol=1e-4), tta
        var = 0.5 * (plain["sigma_px"].to_numpy() ** 2 + other["sigma_px"].to_numpy() ** 2)
        assert np.allclose(both["sigma_px"].to_numpy(), np.sqrt(var), rtol=1e-4), tta
        # the views are estimates of the same centroid: after mapping back they agree closely
        assert np.median(np.hypot(*(back - plain[["x", "y"]].to_numpy()).T)) < RECOVER_BOUND_PX


def test_resume_gives_identical_weights(tmp_path):
    """2 epochs in one go == 1 epoch, stopped by the time budget, then resumed for the second."""
    kw = {"profile": "test", "seed": 3, "progress": False, "epochs": 2}
    a = train_compact(None, tmp_path / "a", **kw)
    first = train_compact(None, tmp_path / "b", time_budget_s=1e-9, **kw)
    assert first.stopped_early and len(first.history) == 1
    assert not (tmp_path / "b" / "compact.pt").exists()
    b = train_compact(None, tmp_path / "b", resume=True, **kw)
    assert not b.stopped_early and list(b.history["epoch"]) == [1, 2]
    sa = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    sb = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert sa["model"].keys() == sb["model"].keys()
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    ma = load_model_file(a.model_path)["state_dict"]
    mb = load_model_file(b.model_path)["state_dict"]
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    cols = ["train_loss", "val_auc_70nm", "val_mean_error_nm"]
    assert np.array_equal(a.history[cols].to_numpy(), b.history[cols].to_numpy())
    # a different seed gives different weights (the comparison above can fail)
    c = train_compact(None, tmp_path / "c", **{**kw, "seed": 4, "epochs": 1})
    mc = load_model_file(c.model_path)["state_dict"]
    assert not all(torch.equal(ma[k], mc[k]) for k in ma)


def test_resume_refuses_another_configuration(tmp_path):
    train_compact(None, tmp_path, profile="test", progress=False, epochs=1)
    with pytest.raises(ValueError, match="cannot resume"):
        train_compact(None, tmp_path, profile="test", progress=False, epochs=1, resume=True, width=8)


def test_bad_model_files(tmp_path):
    images = np.full((2, 24, 25), 8, dtype=np.uint16)
    with pytest.raises(ModelFileError, match="does not exist"):
        compact_locate(images, tmp_path / "missing.pt")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"\x80\x04 not a torch file at all" * 10)
    with pytest.raises(ModelFileError, match="corrupt"):
        compact_locate(images, bad)
    cfg = CompactConfig(width=8, dilations=(1,))
    net = CompactNet(cfg, (24, 25))
    p = SimParams()
    other = save_model_file(tmp_path / "frcnn.pt", "frcnn", {}, net.state_dict(), (24, 25), p.to_dict())
    with pytest.raises(ModelFileError, match="expected 'compact'"):
        compact_locate(images, other)
    good = save_model_file(tmp_path / "c.pt", "compact", cfg.to_dict(), net.state_dict(), (24, 25), p.to_dict())
    assert len(compact_locate(images, good)) == 2  # the same file works for 24 x 25 images
    with pytest.raises(ModelFileError, match="shape"):
        compact_locate(np.zeros((2, 32, 32), dtype=np.uint16), good)
    wrong = save_model_file(tmp_path / "w.pt", "compact", cfg.replace(width=12).to_dict(), net.state_dict(),
                            (24, 25), p.to_dict())
    with pytest.raises(ModelFileError, match="does not hold a valid compact model"):
        compact_locate(images, wrong)
    with pytest.raises(ValueError, match="images"):
        compact_locate(np.zeros((2, 3, 24, 25)), good)


def test_crlb_of_a_still_dot():
    p = SimParams()
    n = [2.0, 8.0, 32.0, 128.0]
    s = [crlb_still_dot_nm(p.replace(n_qd=v))["sigma_nm"] for v in n]
    assert all(a > b for a, b in zip(s, s[1:], strict=False))  # more photons, smaller bound
    # no background: the Fisher information is proportional to N, the bound to 1/sqrt(N) exactly
    q = p.replace(n_bkg=0.0)
    r = crlb_still_dot_nm(q.replace(n_qd=40.0))["sigma_x_nm"] / crlb_still_dot_nm(q.replace(n_qd=10.0))["sigma_x_nm"]
    assert r == pytest.approx(0.5, rel=1e-9)
    # ... and equals sigma_psf / sqrt(signal photons) for a dot in the middle (pixels sample the PSF)
    c = crlb_still_dot_nm(q.replace(n_qd=10.0))
    assert c["sigma_x_nm"] == pytest.approx(p.sigma_xy_um * 1000 / np.sqrt(c["signal_photons"]), rel=0.01)
    # high signal over the background: ~1/sqrt(N); low signal: the background makes it fall faster
    hi = crlb_still_dot_nm(p.replace(n_qd=1e4))["sigma_nm"] / crlb_still_dot_nm(p.replace(n_qd=2.5e3))["sigma_nm"]
    lo = crlb_still_dot_nm(p.replace(n_qd=4.0))["sigma_nm"] / crlb_still_dot_nm(p.replace(n_qd=1.0))["sigma_nm"]
    assert hi == pytest.approx(0.5, rel=0.02)
    assert lo < 0.4
    # unknown photon number and background cannot make the bound smaller
    assert crlb_still_dot_nm(p, nuisance=True)["sigma_nm"] >= crlb_still_dot_nm(p)["sigma_nm"]
    with pytest.raises(ValueError, match="n_qd"):
        crlb_still_dot_nm(p.replace(n_qd=0.0))


def test_train_rejects_unknown_model_and_profile(tmp_path):
    with pytest.raises(ValueError, match="model="):
        train("yolo", "cpu", None, tmp_path)
    with pytest.raises(ValueError, match="profile="):
        train("compact", "huge", None, tmp_path)


def test_the_shared_epoch_loop_selects_checkpoints_and_stops_on_budget():
    """run_epochs: epochs numbered from 1, the best by the trainer's rule, budget checked first."""
    scores = {1: 3.0, 2: 1.0, 3: 2.0, 4: 0.5}
    saved, ends = [], []

    def better(row, best):
        return best is None or row["s"] < best["s"]

    history: list[dict] = []
    best, stopped = run_epochs(history, 3, lambda e: {"epoch": e, "s": scores[e]}, better,
                               lambda e, row: saved.append(e), lambda row, b: ends.append((row["epoch"], b)))
    assert (best, stopped) == (2, False) and saved == [1, 2] and ends == [(1, 1), (2, 2), (3, 2)]
    # resumed with a larger epoch count: continues at epoch 4 from the known best
    best, stopped = run_epochs(history, 4, lambda e: {"epoch": e, "s": scores[e]}, better,
                               lambda e, row: saved.append(e), lambda row, b: None, best_epoch=best)
    assert (best, stopped, saved, len(history)) == (4, False, [1, 2, 4], 4)
    # a budget that is spent after two epochs stops before the third, without running it
    history = []
    best, stopped = run_epochs(history, 4, lambda e: {"epoch": e, "s": scores[e]}, better,
                               lambda e, row: None, lambda row, b: None,
                               over_budget=lambda h: len(h) >= 2)
    assert (best, stopped, [h["epoch"] for h in history]) == (2, True, [1, 2])


def test_time_budget_is_validated():
    check_time_budget(None)
    check_time_budget(5)
    for bad in (0, -1.0, float("inf"), "10", True):
        with pytest.raises(ValueError, match="time_budget_s="):
            check_time_budget(bad)
