"""Smoke tests of chapters 01-03's figures (Agg backend): the right axes, artists and positions.

The figures live in qdloc.plots.scanner (01), walks (02) and photons (03), the style in
qdloc.plots.style.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.animation import FuncAnimation  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from qdloc import SimParams, simulate  # noqa: E402
from qdloc.plots import photons, scanner, style, walks  # noqa: E402
from qdloc.sim.psf import expected_counts  # noqa: E402
from qdloc.sim.walk import centroid_px  # noqa: E402

# a small grid keeps the tests fast; the paper's grid where the test is about it
SMALL = SimParams(height_px=10, width_px=12, start_margin_px=2.0)
PAPER = SimParams()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _line(ax, label):
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(found) == 1, f"expected one line labelled {label!r}, found {len(found)}"
    return found[0]


def test_pixel_extent_puts_pixel_centres_at_integers():
    left, right, bottom, top = style.pixel_extent(PAPER)
    assert (left, right, bottom, top) == (-0.5, 24.5, 23.5, -0.5)
    # 25 columns of width 1 between left and right
    assert (right - left) / PAPER.width_px == 1.0


def test_beam_path_has_one_dwell_per_line_and_dashed_retraces():
    ax = scanner.plot_beam_path(SMALL)
    cols = {c.get_label(): c for c in ax.collections if isinstance(c, LineCollection)}
    dwell, retrace = cols["dwell"], cols["retrace"]
    assert len(dwell.get_segments()) == SMALL.height_px
    assert len(retrace.get_segments()) == SMALL.height_px - 1
    assert dwell.get_linestyle()[0][1] is None  # solid
    assert retrace.get_linestyle()[0][1] is not None  # dashed
    a = SMALL.pixel_size_um
    # each dwell segment sweeps its row from the left edge of pixel 0 to the right edge of pixel W-1
    for i, seg in enumerate(dwell.get_segments()):
        np.testing.assert_allclose(seg[:, 1], i * a)
        np.testing.assert_allclose(seg[[0, -1], 0], [-0.5 * a, (SMALL.width_px - 0.5) * a])
    # each retrace joins the end of line i to the start of line i+1
    for i, seg in enumerate(retrace.get_segments()):
        np.testing.assert_allclose(seg[0], [(SMALL.width_px - 0.5) * a, i * a])
        np.testing.assert_allclose(seg[-1], [-0.5 * a, (i + 1) * a])


def test_timing_diagram_axes_and_zoom_window():
    fig, axes = scanner.plot_timing(PAPER, n_lines=2, line=0, n_zoom_px=4)
    assert len(axes) == 3
    assert len(fig.axes) == 3
    top, left, right = axes
    assert {ln.get_label() for ln in top.get_lines()} >= {"x (fast axis)", "y (slow axis)"}
    # top covers two line periods minus nothing (2 < H): 2.3 ms
    assert top.get_xlim() == pytest.approx((0.0, 2.3))
    # zoom windows: the end of line 0 (50 µs) and the start of line 1 (1150 µs), in µs
    lo, hi = left.get_xlim()
    assert lo < 50.0 < hi
    assert hi < 1150.0
    lo, hi = right.get_xlim()
    assert lo < 1150.0 < hi
    assert lo > 50.0
    # the samples drawn in the right zoom are the first pixels of line 1, at x = j·a
    samples = _line(right, "sample (dwell start)")
    np.testing.assert_allclose(samples.get_xdata(), 1150.0 + 2.0 * np.arange(4))
    np.testing.assert_allclose(samples.get_ydata(), 0.07 * np.arange(4))
    with pytest.raises(ValueError, match="line=23"):
        scanner.plot_timing(PAPER, line=23)


def test_trajectory_clocks_zoom_marks_the_slow_jump():
    sim = simulate(1, SMALL, seed=3, D=1.0, photons=False)
    traj = sim.trajectories[0]
    fig, (ax_t, ax_k) = walks.plot_trajectory_clocks(traj, SMALL, D=1.0, line=2)
    assert len(fig.axes) == 2
    assert [ln.get_label() for ln in ax_t.get_lines()] == ["x", "y", "z"]
    W = SMALL.width_px
    jump = _line(ax_k, "slow clock (dwell + retrace)")
    np.testing.assert_array_equal(jump.get_xdata(), [3 * W - 1, 3 * W])
    np.testing.assert_allclose(jump.get_ydata(), (traj[[3 * W - 1, 3 * W], 0] - traj[0, 0]) * 1e3)
    fast = _line(ax_k, "fast clock (dwell)")
    assert len(fast.get_xdata()) == 2 * W
    with pytest.raises(ValueError, match="shape"):
        walks.plot_trajectory_clocks(traj[:-1], SMALL)


def test_msd_plot_is_log_log_with_reference():
    sim = simulate(50, SMALL, seed=1, D=2.0, photons=False)
    ax = walks.plot_msd(sim.trajectories, SMALL, D=2.0)
    assert ax.get_xscale() == "log"
    assert ax.get_yscale() == "log"
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels == ["x", "y", "z", "2Dt"]
    ref = _line(ax, "2Dt")
    np.testing.assert_allclose(ref.get_ydata(), 4.0 * np.asarray(ref.get_xdata()))
    assert len(ref.get_xdata()) == SMALL.n_pixels - 1  # t = 0 left out


def test_msd_plot_of_a_static_dot_does_not_warn():
    sim = simulate(5, SMALL, seed=1, D=0.0, photons=False)
    ax = walks.plot_msd(sim.trajectories, SMALL, D=0.0)
    ax.figure.canvas.draw()  # warnings are errors under pytest
    assert ax.get_yscale() == "linear"
    assert [ln.get_label() for ln in ax.get_lines()] == ["x", "y", "z"]


def test_psf_slices_follow_eq1():
    p = PAPER
    s = photons.psf_slices(p, n=41)
    assert s["xy"].shape == (41, 41)
    assert s["xz"].shape == (41, 41)
    # peak of Eq. 1 at the dot: N_qd / ((2π)^1.5 σxy² σz) + N_bkg
    assert s["xy"].max() == pytest.approx(p.peak_signal + p.n_bkg, rel=1e-12)
    assert s["lateral"][20] == pytest.approx(p.peak_signal + p.n_bkg, rel=1e-12)
    # lateral profile is Gaussian with σxy; axial with σz
    x, z = s["x_um"], s["z_um"]
    np.testing.assert_allclose(
        s["lateral"] - p.n_bkg,
        p.peak_signal * np.exp(-(x**2) / (2 * p.sigma_xy_um**2)),
        rtol=1e-9,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        s["axial"] - p.n_bkg,
        p.peak_signal * np.exp(-(z**2) / (2 * p.sigma_z_um**2)),
        rtol=1e-9,
        atol=1e-12,
    )
    fig, axes = photons.plot_psf_slices(p, n=41)
    assert axes.shape == (2, 2)
    assert len(axes[1, 0].images) == 1
    assert len(axes[1, 1].images) == 1
    # both maps on one colour scale
    assert axes[1, 0].images[0].get_clim() == axes[1, 1].images[0].get_clim()


def test_expected_vs_counts_share_one_colour_scale():
    sim = simulate(1, SMALL, seed=2, D=1.0)
    exp = expected_counts(sim.trajectories, SMALL)[0]
    fig, (ax_e, ax_c) = photons.plot_expected_vs_counts(
        exp, sim.images[0], SMALL, traj_um=sim.trajectories[0]
    )
    ce, cc = ax_e.images[0].get_clim(), ax_c.images[0].get_clim()
    assert ce == cc
    assert ce[0] == min(exp.min(), sim.images[0].min())
    assert ce[1] == max(exp.max(), sim.images[0].max())
    assert len(fig.axes) == 3  # two images and the colour bar


def test_image_trajectory_markers_at_first_and_last_sample_in_px():
    sim = simulate(1, SMALL, seed=5, D=1.5)
    traj = sim.trajectories[0]
    ax = photons.plot_image_trajectory(sim.images[0], traj, SMALL)
    a = SMALL.pixel_size_um
    start, end, cen = _line(ax, "start"), _line(ax, "end"), _line(ax, "centroid")
    np.testing.assert_allclose([start.get_xdata()[0], start.get_ydata()[0]], traj[0, :2] / a)
    np.testing.assert_allclose([end.get_xdata()[0], end.get_ydata()[0]], traj[-1, :2] / a)
    np.testing.assert_allclose([cen.get_xdata()[0], cen.get_ydata()[0]], centroid_px(traj, SMALL))
    assert start.get_markeredgecolor() == style.START_COLOUR
    assert end.get_markeredgecolor() == style.END_COLOUR
    # pixel centres at integers: extent from -0.5 to W-0.5, row 0 at the top
    assert ax.images[0].get_extent() == [-0.5, SMALL.width_px - 0.5, SMALL.height_px - 0.5, -0.5]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]


def test_figure1_has_four_image_axes_and_markers():
    Ds = [0.0, 0.75, 1.0, 1.75]
    sim = simulate(4, PAPER, seed=0, D=Ds)
    fig, axes = photons.plot_figure1(sim)
    assert len(axes) == 4
    assert sum(1 for ax in fig.axes if ax.images) == 4
    a = PAPER.pixel_size_um
    for k, ax in enumerate(axes):
        assert f"D = {Ds[k]:g}" in ax.get_title()
        np.testing.assert_array_equal(ax.images[0].get_array(), sim.images[k])
        cen = _line(ax, "centroid")
        np.testing.assert_allclose([cen.get_xdata()[0], cen.get_ydata()[0]], sim.centroids[k])
        labels = {ln.get_label() for ln in ax.get_lines()}
        if Ds[k] == 0:
            assert "start" not in labels  # as in the paper's panel (a)
        else:
            start, end = _line(ax, "start"), _line(ax, "end")
            np.testing.assert_allclose(start.get_xydata()[0], sim.trajectories[k, 0, :2] / a)
            np.testing.assert_allclose(end.get_xydata()[0], sim.trajectories[k, -1, :2] / a)


@pytest.mark.parametrize("lines_per_frame", [1, 2, 3])
def test_scan_animation_frames_and_size(lines_per_frame):
    sim = simulate(2, SMALL, seed=4, D=1.0)
    anim = scanner.scan_animation(sim, index=1, lines_per_frame=lines_per_frame, dpi=40)
    assert isinstance(anim, FuncAnimation)
    n_frames = math.ceil(SMALL.height_px / lines_per_frame)
    assert len(list(anim.new_frame_seq())) == n_frames
    html = anim.to_jshtml()
    assert html.count("data:image/png;base64") == n_frames
    assert len(html) < 1.5e6
    # the last frame shows the whole image and the whole trajectory
    ax = anim._fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), sim.images[1])
    path = _line(ax, "trajectory")
    assert len(path.get_xdata()) == SMALL.n_pixels
    np.testing.assert_allclose(
        _line(ax, "dot").get_xydata()[0], sim.trajectories[1, -1, :2] / SMALL.pixel_size_um
    )
    # an animation is not a pyplot figure: nothing for the notebook to show twice
    assert anim._fig not in map(plt.figure, plt.get_fignums())


def test_scan_animation_paper_size_fits_in_the_book():
    sim = simulate(1, PAPER, seed=0, D=1.0)
    anim = scanner.scan_animation(sim, lines_per_frame=2)
    html = anim.to_jshtml()
    assert html.count("data:image/png;base64") == 12
    assert len(html) < 1.5e6


def test_scan_animation_bare_trajectory_needs_params():
    sim = simulate(1, SMALL, seed=0, D=1.0, photons=False)
    with pytest.raises(ValueError, match="params"):
        scanner.scan_animation(sim.trajectories[0])
    with pytest.raises(ValueError, match="lines_per_frame"):
        scanner.scan_animation(sim.trajectories[0], SMALL, lines_per_frame=0)
    anim = scanner.scan_animation(sim.trajectories[0], SMALL, lines_per_frame=5, dpi=30)
    assert anim.to_jshtml().count("data:image/png;base64") == 2


def test_explorer_redraws_on_each_slider():
    box = photons.explorer(SMALL, D=0.5, seed=1)
    assert set(box.sliders) == {"D", "n_qd", "seed"}
    assert box.sliders["D"].value == 0.5
    assert box.sliders["seed"].value == 1
    img = box.children[1]
    first = img.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    seen = {first}
    for name, value in (("D", 1.5), ("n_qd", 40.0), ("seed", 7)):
        box.sliders[name].value = value
        assert img.value not in seen, f"changing {name} did not redraw"
        seen.add(img.value)
    assert "centroid" in box.children[2].value
    assert plt.get_fignums() == []  # the explorer does not leave pyplot figures behind
