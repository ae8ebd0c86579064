"""Chapter 04's report on sets on disk (qdloc.study.datasets)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qdloc import SimParams
from qdloc.data.dataset import (
    DatasetError,
    concatenate_shards,
    load_dataset,
    sha256_file,
    write_dataset,
)
from qdloc.data.presets import PAPER_PRESET
from qdloc.study import datasets as sd

P = SimParams()
N = 40


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    return write_dataset(root / "demo", N, P, seed=3, D=("uniform", 0.75, 1.75), progress=False)


def test_preset_table_lists_the_papers_sets():
    t = sd.preset_table(PAPER_PRESET)
    assert list(t["set"]) == list(PAPER_PRESET)
    assert t["images"].sum() == 39672
    assert t.loc[0, "D_um2_per_s"] == "uniform in [0.75, 1.75]" and t.loc[3, "D_um2_per_s"] == "1.0"
    with pytest.raises(ValueError, match="empty"):
        sd.preset_table({})


def test_preset_values_of_the_papers_sets():
    v = sd.preset_values(PAPER_PRESET, SimParams())
    assert v["n_total"] == 39672 and (v["n_train"], v["n_val"]) == (29838, 2984)
    assert [(v[f"n_test{i}"], v[f"D_test{i}"]) for i in (1, 2, 3)] == [(2570, 0.75), (2410, 1.0), (1870, 1.75)]
    assert (v["D_lo"], v["D_hi"]) == (0.75, 1.75)
    assert v["bbox_pad_px"] == pytest.approx(2 * 0.21 / 0.07)  # 2 sigma_xy / pixel size
    assert "n_test_D0.75" not in v  # not an identifier: numbered instead
    with pytest.raises(ValueError, match="empty"):
        sd.preset_values({}, SimParams())


def test_files_tiff_and_provenance(demo):
    files = sd.files_table(demo)
    assert list(files["file"]) == ["images.tif", "labels.csv", "params.json", "trajectories.npy"]
    assert files.loc[0, "MB"] == pytest.approx((demo / "images.tif").stat().st_size / 1e6)
    tif = sd.tiff_summary(demo)
    assert tif["images"] == N and tif["shape"] == (N, P.height_px, P.width_px)
    assert tif["pixel_size"] == pytest.approx(P.pixel_size_um) and tif["unit"] in ("um", "µm")
    ds = load_dataset(demo)
    prov = sd.provenance(ds.meta)
    assert prov["seed"] == 3 and prov["n"] == N and prov["shard"] is None
    assert prov["sim_params"] == {"height_px": 24, "width_px": 25, "pixel_size_um": 0.07,
                                  "n_bkg": P.n_bkg}
    with pytest.raises(ValueError, match="lacks"):
        sd.provenance({"D": 1.0})
    with pytest.raises(ValueError, match="not a folder"):
        sd.files_table(demo / "images.tif")


def test_checksums_match_the_files(demo):
    ds = load_dataset(demo)
    t = sd.checksum_table({"demo": ds}, chars=16)
    assert t.loc["demo", "images.tif"] == sha256_file(demo / "images.tif")[:16]
    assert list(t.columns) == ["images.tif", "labels.csv", "trajectories.npy"]


def test_uniform_check_accepts_uniform_and_rejects_other_draws():
    rng = np.random.default_rng(0)
    u = sd.uniform_check(rng.uniform(0.75, 1.75, 5000), 0.75, 1.75)
    assert u["ks_p"] > 0.01 and abs(u["mean"] - 1.25) < 0.02  # 0.02 = 5 standard errors
    assert u["sd_expected"] == pytest.approx(1 / 12**0.5)
    skewed = sd.uniform_check(0.75 + rng.beta(2, 5, 5000), 0.75, 1.75)
    assert skewed["ks_p"] < 1e-6
    with pytest.raises(ValueError, match="low < high"):
        sd.uniform_check([1.0], 2.0, 1.0)


def test_a_truncated_copy_fails_to_load(demo, tmp_path):
    broken = sd.truncated_copy(demo, tmp_path / "broken", "images.tif", 0.5)
    assert (broken / "images.tif").stat().st_size == (demo / "images.tif").stat().st_size // 2
    with pytest.raises(DatasetError, match="images.tif"):
        load_dataset(broken)
    with pytest.raises(ValueError, match="fraction"):
        sd.truncated_copy(demo, tmp_path / "b2", fraction=1.0)


def test_shards_join_into_the_same_bytes(demo, tmp_path):
    shards = sd.write_shards(tmp_path, N, P, 3, ("uniform", 0.75, 1.75), n_shards=3)
    t = sd.shard_table(shards)
    assert list(t["first"]) == [0, 13, 26] and list(t["last"]) == [12, 25, 39]
    assert t["images"].sum() == N
    joined = concatenate_shards(shards, tmp_path / "joined", progress=False)
    same = sd.same_bytes(demo, joined)
    assert same == dict.fromkeys(["images.tif", "labels.csv", "params.json", "trajectories.npy"],
                                 True)
    assert not all(sd.same_bytes(demo, shards[0]).values())


def test_results_of_a_set(demo, tmp_path):
    sets = sd.load_sets(demo.parent, ["demo"])
    r = sd.dataset_results(P, sets)
    s = r["sets"]["demo"]
    ds = sets["demo"]
    assert r["sim_params"] == P.to_dict()
    assert s["n"] == N and s["seed"] == 3 and s["D"] == ds.meta["D"]
    assert s["D_mean"] == pytest.approx(ds.D.mean()) and 0.75 <= s["D_min"] <= s["D_max"] <= 1.75
    assert s["sha256"]["labels.csv"] == sha256_file(demo / "labels.csv")
    assert s["bytes"]["labels.csv"] == (demo / "labels.csv").stat().st_size
    json.dumps(r)  # serialisable as it is
    t = sd.results_table(r)
    assert t.loc["demo", "n"] == N and t.loc["demo", "D_sd"] == pytest.approx(ds.D.std())


def test_images_are_reproducible_and_labels_are_centroids(demo):
    ds = load_dataset(demo)
    assert sd.resimulate_image(ds, 17) == (True, True)
    assert sd.label_error_nm(ds) < 1e-9
    with pytest.raises(ValueError, match="not a page"):
        sd.resimulate_image(ds, N)


def test_edge_events_box_touches_whenever_the_dot_leaves(tmp_path):
    fast = load_dataset(write_dataset(tmp_path / "fast", 200, P, seed=5, D=3.0, progress=False))
    outside, touches = sd.edge_events(fast)
    assert outside.shape == touches.shape == (200,)
    assert outside.any() and touches[outside].all()
    # a dot far from every edge all the time: the box is the trajectory's, padded by 6 px
    lab = fast.labels
    inner = ((lab.bbox_x0 > -0.5) & (lab.bbox_y0 > -0.5) & (lab.bbox_x1 < P.width_px - 0.5)
             & (lab.bbox_y1 < P.height_px - 0.5)).to_numpy()
    assert np.array_equal(~touches, inner)


def test_describe_preset_loaded_and_tiff(demo):
    text = sd.describe_preset(PAPER_PRESET)
    assert text.splitlines()[0].split() == ["set", "images", "seed", "D_um2_per_s"]
    assert text.endswith("\ntotal 39672 images")
    ds = load_dataset(demo)
    lines = sd.describe_loaded(ds, ds).splitlines()
    assert lines[0] == (f"test set: demo, {N} images, seed 3, "
                        f"D in [{ds.D.min():.2f}, {ds.D.max():.2f}] um^2/s")
    assert lines[1] == f"training set: demo, {N} images, seed 3"
    tif = sd.describe_tiff(sd.tiff_summary(demo))
    assert tif.startswith(f"ImageJ stack: {N} images, axes ")
    assert tif.endswith(f"\npixel size: {P.pixel_size_um:.4f} um (Fiji: Image > Properties)")


def test_describe_uniform_and_edge_events(demo):
    u = sd.uniform_check(np.linspace(0.75, 1.75, 101), 0.75, 1.75)
    text = sd.describe_uniform(u, 0.75, 1.75)
    assert text.startswith("101 images: D min 0.7500, max 1.7500, mean 1.2500 (uniform: 1.25), sd ")
    assert f"(uniform: {1 / 12**0.5:.4f})\n" in text
    assert text.endswith(f"Kolmogorov-Smirnov against uniform [0.75, 1.75]: p = {u['ks_p']:.3f}")
    ds = load_dataset(demo)
    outside, touches = np.zeros(N, bool), np.arange(N) < N // 4
    assert sd.describe_edge_events(ds, outside, touches) == (
        f"demo: the dot leaves the image in 0.0% of {N} images; the box touches the edge in 25.0%")
