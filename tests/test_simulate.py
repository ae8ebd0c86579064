"""simulate(): shapes, reproducibility, chunking, bad input."""

import math

import numpy as np
import pytest

from qdloc import BLOCK, SimParams, iter_simulate, simulate

P = SimParams()


def test_shapes_and_types():
    sim = simulate(5, P, seed=0)
    assert sim.images.shape == (5, 24, 25) and sim.images.dtype == np.uint16
    assert sim.trajectories.shape == (5, 600, 3) and sim.trajectories.dtype == np.float64
    assert sim.centroids.shape == (5, 2)
    assert sim.D.shape == (5,) and np.all(sim.D == P.D_um2_per_s)
    assert list(sim.index) == [0, 1, 2, 3, 4]
    assert len(sim) == 5


def test_same_seed_same_arrays_other_seed_differs():
    a, b = simulate(40, P, seed=9), simulate(40, P, seed=9)
    for f in ("images", "trajectories", "centroids"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    c = simulate(40, P, seed=10)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("chunk", [1, 7, BLOCK - 1, BLOCK, BLOCK + 3, 1000])
def test_any_chunk_size_gives_identical_arrays(chunk):
    n = 2 * BLOCK + 37
    whole = simulate(n, P, seed=4, D=1.3, start=5)
    parts = list(iter_simulate(n, P, seed=4, D=1.3, chunk=chunk, start=5, threads=1))
    for f in ("images", "trajectories", "centroids", "D", "index"):
        np.testing.assert_array_equal(
            np.concatenate([getattr(x, f) for x in parts]), getattr(whole, f)
        )


def test_image_k_depends_only_on_seed_and_k():
    D = np.linspace(0.5, 2.0, 300)
    full = simulate(300, P, seed=1, D=D)
    # image 260 alone, with the other images' D changed or absent
    one = simulate(1, P, seed=1, D=D[260], start=260)
    np.testing.assert_array_equal(one.images[0], full.images[260])
    np.testing.assert_array_equal(one.trajectories[0], full.trajectories[260])
    other = simulate(300, P, seed=1, D=np.where(np.arange(300) == 260, D[260], 3.0))
    np.testing.assert_array_equal(other.images[260], full.images[260])
    # and the threads do not matter
    np.testing.assert_array_equal(simulate(300, P, seed=1, D=D, threads=1).images, full.images)


def test_per_image_D_is_used():
    sim = simulate(2, P, seed=0, D=[0.0, 1.0], photons=False)
    assert np.all(sim.trajectories[0] == sim.trajectories[0, 0])
    assert np.ptp(sim.trajectories[1], axis=0).min() > 0
    assert sim.images is None


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"D": -1.0}, r"D\[0\]=-1\.0 is not allowed: expected a finite number >= 0"),
        ({"D": math.nan}, r"D\[0\]=nan is not allowed"),
        ({"D": math.inf}, r"D\[0\]=inf is not allowed"),
        (
            {"D": [1.0, 2.0]},
            r"D has shape \(2,\); expected one value or one per image, shape \(3,\)",
        ),
        ({"seed": -1}, r"seed=-1 is not allowed"),
        ({"seed": 1.5}, r"seed=1\.5 is not allowed"),
        ({"start": -2}, r"start=-2 is not allowed"),
        ({"threads": 0}, r"threads=0 is not allowed"),
    ],
)
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        simulate(3, P, **kwargs)


def test_bad_n_and_chunk():
    with pytest.raises(ValueError, match=r"n=-1 is not allowed"):
        simulate(-1, P)
    with pytest.raises(ValueError, match=r"chunk=0 is not allowed"):
        list(iter_simulate(3, P, chunk=0))


def test_zero_images():
    sim = simulate(0, P)
    assert sim.images.shape == (0, 24, 25) and sim.centroids.shape == (0, 2)


def test_other_image_sizes():
    p = SimParams(height_px=8, width_px=11, start_margin_px=1.0)
    sim = simulate(3, p, seed=0)
    assert sim.images.shape == (3, 8, 11) and sim.trajectories.shape == (3, 88, 3)
