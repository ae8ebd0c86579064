"""qdloc.data.dataset: sets on disk -- reproducible bytes, shards, atomic writes, checks on load."""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import stats

import qdloc.data.dataset as dsmod
from qdloc import BLOCK, SimParams, simulate
from qdloc.data.atomic import atomic_dir, host_tag
from qdloc.data.dataset import (
    DATA_FILES,
    LABEL_COLUMNS,
    DatasetError,
    concatenate_shards,
    draw_D,
    load_dataset,
    read_stack,
    shard_range,
    write_dataset,
    write_paper_sets,
)
from qdloc.data.presets import PAPER_PRESET

P = SimParams()
FILES = (*DATA_FILES, "params.json")
UNIFORM = ("uniform", 0.75, 1.75)


def same_files(a: Path, b: Path) -> dict[str, bool]:
    assert sorted(os.listdir(a)) == sorted(os.listdir(b)) == sorted(FILES)
    return {f: filecmp.cmp(a / f, b / f, shallow=False) for f in FILES}


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    """300 images, D uniform per image: read-only for the tests that use it."""
    return write_dataset(
        tmp_path_factory.mktemp("small") / "set", 300, P, seed=5, D=UNIFORM, progress=False
    )


def copy_set(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in FILES:
        (dst / f).write_bytes((src / f).read_bytes())
    return dst


# --------------------------------------------------------------------------
# reproducible bytes, shards
# --------------------------------------------------------------------------
def test_same_seed_gives_identical_files_other_seed_does_not(tmp_path, small_set):
    again = write_dataset(tmp_path / "again", 300, P, seed=5, D=UNIFORM, progress=False, chunk=100)
    assert all(same_files(small_set, again).values())
    other = write_dataset(tmp_path / "other", 300, P, seed=6, D=UNIFORM, progress=False)
    assert not any(same_files(small_set, other)[f] for f in DATA_FILES)


def test_shards_concatenate_to_the_unsharded_set_byte_for_byte(tmp_path):
    n = 2100  # three shards of 700: boundaries 700 and 1400 fall inside blocks of 256
    assert 700 % BLOCK
    assert 1400 % BLOCK
    whole = write_dataset(tmp_path / "whole", n, P, seed=3, D=UNIFORM, progress=False)
    shards = [
        write_dataset(tmp_path / f"s{i}", n, P, seed=3, D=UNIFORM, shard=(i, 3), progress=False)
        for i in range(3)
    ]
    s1 = load_dataset(shards[1])
    assert len(s1) == 700
    assert s1.shard == (1, 3)
    assert s1.frames[0] == 700
    assert s1.frames[-1] == 1399
    np.testing.assert_array_equal(s1.images, load_dataset(whole).images[700:1400])
    joined = concatenate_shards(
        [shards[2], shards[0], shards[1]], tmp_path / "joined", progress=False
    )
    assert same_files(whole, joined) == dict.fromkeys(FILES, True)


def test_concatenate_refuses_missing_repeated_or_foreign_shards(tmp_path):
    s = [
        write_dataset(tmp_path / f"s{i}", 90, P, seed=2, shard=(i, 3), progress=False)
        for i in range(3)
    ]
    foreign = write_dataset(tmp_path / "f2", 90, P, seed=4, shard=(2, 3), progress=False)
    with pytest.raises(DatasetError, match=r"shard\(s\) \[1\] of 3 missing"):
        concatenate_shards([s[0], s[2]], tmp_path / "out", progress=False)
    with pytest.raises(DatasetError, match="given twice"):
        concatenate_shards([s[0], s[1], s[1]], tmp_path / "out", progress=False)
    with pytest.raises(DatasetError, match="seed"):
        concatenate_shards([s[0], s[1], foreign], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_shard_ranges_cover_the_set_once():
    n, count = 1001, 7
    ranges = [shard_range(n, (i, count)) for i in range(count)]
    assert ranges[0][0] == 0
    assert ranges[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    for bad in [(3, 3), (-1, 3), (0, 0), (1,), "0/3"]:
        with pytest.raises(ValueError, match="shard"):
            shard_range(n, bad)
    with pytest.raises(ValueError, match="empty"):
        shard_range(2, (0, 3))


# --------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------
def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    real = dsmod.simulate
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(dsmod, "simulate", flaky)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(tmp_path / "set", 3 * BLOCK, P, seed=1, chunk=BLOCK, progress=False)
    assert len(calls) >= 2  # it was interrupted mid-way, not before it started
    assert os.listdir(tmp_path) == []  # no set and no temporary folder


def test_existing_set_is_not_overwritten_without_force(tmp_path, small_set):
    target = copy_set(small_set, tmp_path / "set")
    before = {f: (target / f).read_bytes() for f in FILES}
    with pytest.raises(FileExistsError, match="force"):
        write_dataset(target, 50, P, seed=9, progress=False)
    assert {f: (target / f).read_bytes() for f in FILES} == before
    write_dataset(target, 50, P, seed=9, progress=False, force=True)
    assert len(load_dataset(target)) == 50
    assert sorted(os.listdir(tmp_path)) == ["set"]  # the replaced set is gone
    # force never deletes a folder that is not a set
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not a qdloc dataset"):
        write_dataset(other, 10, P, progress=False, force=True)
    assert (other / "thesis.tex").read_text() == "precious"
    # an empty folder is filled without force
    (tmp_path / "empty").mkdir()
    write_dataset(tmp_path / "empty", 10, P, progress=False)
    assert len(load_dataset(tmp_path / "empty")) == 10


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_set_folder_has_the_usual_permissions(tmp_path, small_set):
    (tmp_path / "plain").mkdir()
    assert small_set.stat().st_mode == (tmp_path / "plain").stat().st_mode  # not mkdtemp's 0o700


def test_stale_temporary_folder_is_not_a_set_and_is_cleaned(tmp_path):
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    stale = tmp_path / f".set.tmp-{dead}-{host_tag()}-abcd1234"
    stale.mkdir()
    (stale / "images.tif").write_bytes(b"II*\0partial")
    with pytest.raises(DatasetError, match="no such folder"):
        load_dataset(tmp_path / "set")
    write_dataset(tmp_path / "set", 20, P, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["set"]


# --------------------------------------------------------------------------
# checks on load
# --------------------------------------------------------------------------
def test_truncated_tiff_is_reported_naming_images_tif(tmp_path, small_set):
    target = copy_set(small_set, tmp_path / "set")
    data = (target / "images.tif").read_bytes()
    (target / "images.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"images\.tif.*truncated"):
        load_dataset(target)


def test_missing_label_column_is_reported_naming_file_and_column(tmp_path, small_set):
    target = copy_set(small_set, tmp_path / "set")
    df = pd.read_csv(target / "labels.csv")
    df.drop(columns="y_px").to_csv(target / "labels.csv", index=False)
    with pytest.raises(DatasetError, match=r"labels\.csv.*missing column.*'y_px'"):
        load_dataset(target)


@pytest.mark.parametrize("which", ["labels.csv", "trajectories.npy", "images.tif"])
def test_mismatched_number_of_images_is_reported(tmp_path, small_set, which):
    target = copy_set(small_set, tmp_path / "set")
    if which == "labels.csv":
        pd.read_csv(target / which).iloc[:-1].to_csv(target / which, index=False)
    elif which == "trajectories.npy":
        np.save(target / which, np.load(target / which)[:-1])
    else:
        tifffile.imwrite(target / which, tifffile.imread(target / which)[:-1], imagej=True)
    with pytest.raises(DatasetError, match=rf"{which.replace('.', '[.]')}.*(299|shape).*n=300"):
        load_dataset(target)


def test_modified_file_fails_the_checksum(tmp_path, small_set):
    target = copy_set(small_set, tmp_path / "set")
    raw = bytearray((target / "images.tif").read_bytes())
    raw[-7] ^= 0x01  # one bit of one pixel count
    (target / "images.tif").write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"images\.tif.*sha256"):
        load_dataset(target)
    assert load_dataset(target, verify=False).n == 300  # structure is fine


def test_missing_files_and_bad_params_json(tmp_path, small_set):
    target = copy_set(small_set, tmp_path / "set")
    (target / "trajectories.npy").unlink()
    with pytest.raises(DatasetError, match=r"trajectories\.npy: missing"):
        load_dataset(target)
    (target / "params.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"params\.json.*JSON"):
        load_dataset(target)
    (target / "params.json").unlink()
    with pytest.raises(DatasetError, match=r"params\.json: missing"):
        load_dataset(target)


# --------------------------------------------------------------------------
# content
# --------------------------------------------------------------------------
def test_labels_agree_with_trajectories_and_with_simulate(small_set):
    ds = load_dataset(small_set)
    traj, lab = np.asarray(ds.trajectories), ds.labels
    a = P.pixel_size_um
    assert list(lab.columns) == list(LABEL_COLUMNS)
    np.testing.assert_allclose(ds.truth_xy, traj[..., :2].mean(axis=1) / a, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lab[["x_nm", "y_nm"]].to_numpy(), ds.truth_xy * 70.0, rtol=1e-12)
    np.testing.assert_array_equal(lab[["start_x_px", "start_y_px"]].to_numpy(), traj[:, 0, :2] / a)
    np.testing.assert_array_equal(
        lab[["end_x_px", "end_y_px", "end_z_um"]].to_numpy()[:, 2], traj[:, -1, 2]
    )
    # the box holds the trajectory (clipped to the image) and lies in the image
    x0, y0, x1, y1 = (lab[c].to_numpy() for c in ("bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"))
    assert np.all(
        (x0 >= -0.5) & (y0 >= -0.5) & (x1 <= P.width_px - 0.5) & (y1 <= P.height_px - 0.5)
    )
    tx, ty = traj[..., 0] / a, traj[..., 1] / a
    assert np.all(x0 <= np.clip(tx.min(axis=1), -0.5, None))
    assert np.all(x1 >= np.clip(tx.max(axis=1), None, 24.5))
    assert np.all(y0 <= np.clip(ty.min(axis=1), -0.5, None))
    assert np.all(y1 >= np.clip(ty.max(axis=1), None, 23.5))
    # the same arrays as the simulator, given the stored D
    sim = simulate(300, P, seed=5, D=ds.D)
    np.testing.assert_array_equal(ds.images, sim.images)
    np.testing.assert_array_equal(traj, sim.trajectories)
    np.testing.assert_array_equal(ds.truth_xy, sim.centroids)
    np.testing.assert_array_equal(ds.D, draw_D(UNIFORM, 300, seed=5))


def test_params_json_records_provenance(small_set):
    meta = json.loads((small_set / "params.json").read_text())
    assert meta["sim_params"] == P.to_dict()
    assert (meta["seed"], meta["n"], meta["shard"]) == (5, 300, None)
    assert meta["D"] == {"kind": "uniform", "low_um2_per_s": 0.75, "high_um2_per_s": 1.75}
    assert meta["qdloc_version"]
    for f in DATA_FILES:
        assert meta["files"][f]["sha256"] == dsmod.sha256_file(small_set / f)
        assert meta["files"][f]["bytes"] == (small_set / f).stat().st_size


def test_tiff_is_an_imagej_stack_with_the_pixel_size(small_set):
    with tifffile.TiffFile(small_set / "images.tif") as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["images"] == 300
        assert tif.imagej_metadata["unit"] == "um"
        assert tif.series[0].shape == (300, 24, 25)
        assert tif.series[0].axes == "TYX"
        page = tif.pages.first
        num, den = page.tags["XResolution"].value
        assert num / den == pytest.approx(1 / P.pixel_size_um)
        assert "DateTime" not in page.tags  # no time stamp: reruns give the same bytes
        assert page.dtype == np.uint16


def test_training_D_is_uniform_and_depends_only_on_seed_and_k():
    spec = PAPER_PRESET["train"]
    assert (spec.n, spec.seed, spec.D) == (29838, 1, UNIFORM)
    D = draw_D(spec.D, spec.n, spec.seed)
    assert D.min() >= 0.75
    assert D.max() < 1.75
    assert stats.kstest(D, stats.uniform(loc=0.75, scale=1.0).cdf).pvalue > 0.01
    np.testing.assert_array_equal(draw_D(spec.D, 50, spec.seed, start=1000), D[1000:1050])
    assert not np.array_equal(draw_D(spec.D, 50, 2, start=1000), D[1000:1050])
    # the documented stream: block b of seed s has spawn key (0xD15F, b) ...
    b, k = divmod(1000, BLOCK)
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(spec.seed, spawn_key=(0xD15F, b)))
    )
    assert D[1000] == 0.75 + 1.0 * rng.random(BLOCK)[k]
    # ... not the simulator's (spawn key (b,)), whose uniforms D must not reuse
    sim_rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(spec.seed, spawn_key=(0,)))
    )
    sim_u = np.sort(sim_rng.random(8 * BLOCK))
    u = D[:BLOCK] - 0.75
    nearest = np.abs(sim_u[np.clip(np.searchsorted(sim_u, u), 0, sim_u.size - 1)] - u)
    assert nearest.min() > 1e-12
    assert draw_D(1.0, 3, 0).tolist() == [1.0, 1.0, 1.0]


def test_paper_preset_sizes():
    assert {k: (s.n, s.seed, s.D) for k, s in PAPER_PRESET.items()} == {
        "train": (29838, 1, UNIFORM),
        "val": (2984, 2, UNIFORM),
        "test_D0.75": (2570, 10, 0.75),
        "test_D1": (2410, 11, 1.0),
        "test_D1.75": (1870, 12, 1.75),
    }


def test_write_paper_sets_keeps_matching_sets_and_refuses_stale_ones(tmp_path):
    out = write_paper_sets(tmp_path, P, names=["test_D1.75"], progress=False)
    path = out["test_D1.75"]
    ds = load_dataset(path)
    assert len(ds) == 1870
    assert np.all(ds.D == 1.75)
    assert ds.seed == 12
    stamp = (path / "images.tif").stat().st_mtime_ns
    write_paper_sets(tmp_path, P, names=["test_D1.75"], skip_existing=True, progress=False)
    assert (path / "images.tif").stat().st_mtime_ns == stamp  # kept
    brighter = P.replace(n_qd=P.n_qd * 2)
    with pytest.raises(FileExistsError, match="sim_params differs"):
        write_paper_sets(
            tmp_path, brighter, names=["test_D1.75"], skip_existing=True, progress=False
        )
    write_paper_sets(
        tmp_path, brighter, names=["test_D1.75"], skip_existing=True, force=True, progress=False
    )
    assert load_dataset(path).params == brighter
    with pytest.raises(ValueError, match="names"):
        write_paper_sets(tmp_path, P, names=["test"], progress=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n=0"),
        ({"n": 10, "seed": -1}, "seed=-1"),
        ({"n": 10, "D": ("uniform", 2.0, 1.0)}, "low <= high"),
        ({"n": 10, "D": -1.0}, "D=-1.0"),
        ({"n": 10, "D": np.ones(10)}, "array"),
        ({"n": 10, "shard": (2, 2)}, "shard"),
        ({"n": 10, "chunk": 0}, "chunk=0"),
    ],
)
def test_bad_arguments_raise_before_writing(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_dataset(tmp_path / "set", params=P, progress=False, **kwargs)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------
# read_stack: people's own TIFFs
# --------------------------------------------------------------------------
def test_read_stack_accepts_2d_and_3d_and_refuses_rgb_and_4d(tmp_path, small_set):
    img = np.arange(12, dtype=np.uint16).reshape(3, 4)
    tifffile.imwrite(tmp_path / "one.tif", img)
    assert read_stack(tmp_path / "one.tif").shape == (1, 3, 4)
    stack = np.arange(60, dtype=np.float32).reshape(5, 3, 4)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    np.testing.assert_array_equal(read_stack(tmp_path / "stack.tif"), stack)
    assert read_stack(small_set).shape == (300, 24, 25)  # a set folder reads its images.tif
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    with pytest.raises(DatasetError, match=r"rgb\.tif.*RGB"):
        read_stack(tmp_path / "rgb.tif")
    tifffile.imwrite(
        tmp_path / "tzyx.tif",
        np.zeros((2, 3, 8, 8), np.uint16),
        imagej=True,
        metadata={"axes": "TZYX"},
    )
    with pytest.raises(DatasetError, match=r"tzyx\.tif.*4 dimensions"):
        read_stack(tmp_path / "tzyx.tif")
    (tmp_path / "text.tif").write_text("not a tiff")
    with pytest.raises(DatasetError, match=r"text\.tif"):
        read_stack(tmp_path / "text.tif")
    with pytest.raises(FileNotFoundError):
        read_stack(tmp_path / "nope.tif")


STACK = np.random.default_rng(0).integers(0, 500, (30, 24, 25), dtype=np.uint16)
LAYOUTS = {  # how people's stacks are laid out on disk
    "imagej": {"imagej": True, "metadata": {"axes": "TYX"}},  # qdloc's own: data, then IFDs
    # ImageJ's layout past 4 GB (qdloc writes it for huge sets): one IFD, then all the data
    "imagej_one_ifd": {"imagej": True, "metadata": {"axes": "TYX"}, "truncate": True},
    "shaped": {},  # tifffile's JSON description
    "plain": {"metadata": None},  # no description at all
    "bigtiff": {"bigtiff": True},
    "zlib": {"compression": "zlib", "metadata": None},
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_read_stack_refuses_every_truncation(tmp_path, layout):
    """Cut the file at many byte offsets: each cut is refused or reads back exactly."""
    full = tmp_path / "full.tif"
    tifffile.imwrite(full, STACK, **LAYOUTS[layout])
    data = full.read_bytes()
    cut_file, refused, message = tmp_path / "cut.tif", 0, ""
    cuts = [*range(0, len(data) - 32, 97), *range(len(data) - 32, len(data))]
    for cut in cuts:
        cut_file.write_bytes(data[:cut])
        try:
            got = read_stack(cut_file)
        except DatasetError as exc:
            message = str(exc)
            refused += 1
            continue
        assert got.shape == STACK.shape and np.array_equal(got, STACK), (layout, cut, got.shape)
    assert message.startswith(str(cut_file))  # the refusal names the file
    # every cut before the last image directory ends is refused (the tail may be padding)
    assert refused >= len(range(0, len(data) - 32, 97))


def test_read_stack_names_both_page_counts_of_a_truncated_imagej_stack(tmp_path, small_set):
    cut = tmp_path / "cut.tif"
    cut.write_bytes((small_set / "images.tif").read_bytes()[:6000])
    with pytest.raises(DatasetError, match=r"cut\.tif: truncated .*1 complete page\(s\); "
                       r"its ImageJ metadata \(images=\) declares 300"):
        read_stack(cut)


def test_read_stack_refuses_a_looping_page_chain(tmp_path):
    f = tmp_path / "loop.tif"
    tifffile.imwrite(f, STACK[:3], photometric="minisblack", metadata=None)
    with tifffile.TiffFile(f) as tif:
        last_ptr, first = tif.pages.next_page_offset, tif.pages.first.offset
    raw = bytearray(f.read_bytes())
    raw[last_ptr:last_ptr + 4] = first.to_bytes(4, "little")  # the last page points at the first
    f.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"loop\.tif: truncated or damaged .* loops back"):
        read_stack(f)


@pytest.mark.parametrize(("bad", "frame"), [(np.nan, 2), (np.inf, 4)])
def test_read_stack_refuses_non_finite_pixels_naming_the_first_bad_frame(tmp_path, bad, frame):
    stack = STACK[:6].astype(np.float32)
    stack[frame, 3, 4] = bad  # one pixel is enough
    stack[5] = np.nan  # and a frame of nothing but NaN
    tifffile.imwrite(tmp_path / "nan.tif", stack, imagej=True, metadata={"axes": "TYX"})
    with pytest.raises(DatasetError, match=rf"nan\.tif: frame {frame} .* 1 non-finite .* 2 of 6"):
        read_stack(tmp_path / "nan.tif")


def _fill_atomic(out, force, fmt, version=1, fail=False):
    with atomic_dir(out, force, fmt, "thing") as tmp:
        (tmp / "params.json").write_text(json.dumps({"format": fmt, "v": version}))
        if fail:
            raise RuntimeError("boom")


def test_atomic_dir_installs_on_success_and_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "set"
    with pytest.raises(RuntimeError, match="boom"):
        _fill_atomic(out, False, "fmt-x", fail=True)
    assert os.listdir(tmp_path) == []
    _fill_atomic(out, False, "fmt-x")
    assert sorted(os.listdir(tmp_path)) == ["set"] and os.listdir(out) == ["params.json"]
    with pytest.raises(FileExistsError, match="force=True"):
        _fill_atomic(out, False, "fmt-x")
    with pytest.raises(FileExistsError, match="not a qdloc thing"):
        _fill_atomic(out, True, "fmt-y")
    _fill_atomic(out, True, "fmt-x", version=2)  # force replaces a set of the same format
    assert json.loads((out / "params.json").read_text())["v"] == 2
    assert sorted(os.listdir(tmp_path)) == ["set"]
