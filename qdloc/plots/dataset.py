"""Figures of chapter 04 (datasets): a montage of labelled images and the D histogram.

Like the other modules of :mod:`qdloc.plots`, every function draws on the figure or axes it is
given (or a new one) and returns it; nothing calls ``plt.show``. Images are
drawn with pixel centres at integer coordinates (``x`` = column, ``y`` = row,
row 0 at the top), the convention of the labels, so that positions in px
from ``labels.csv`` overlay without conversion.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

__all__ = ["plot_montage", "plot_D_histogram"]

CENTROID_COLOUR = "red"
TRAJ_COLOUR = "yellow"
BOX_COLOUR = "cyan"


def plot_montage(
    ds,
    indices: Sequence[int] | None = None,
    ncols: int = 6,
    fig=None,
    trajectory: bool = True,
    box: bool = True,
    cmap: str = "gray",
    title: str | None = None,
):
    """Images of a set with their labels: centroid (red +), trajectory (yellow), box (cyan).

    Parameters
    ----------
    ds : qdloc.data.dataset.Dataset
        A loaded set.
    indices : sequence of int, optional
        Page indices to show (default the first ``ncols``).
    ncols : int
        Images per row.
    fig : Figure, optional
        Figure to draw on (default a new one).
    trajectory, box : bool
        Overlay the trajectory and the detection box.
    title : str, optional
        The figure's title.

    Returns
    -------
    Figure
    """
    idx = list(range(min(ncols, len(ds)))) if indices is None else [int(i) for i in indices]
    if not idx:
        raise ValueError("indices is empty: expected at least one image to show")
    bad = [i for i in idx if not 0 <= i < len(ds)]
    if bad:
        raise ValueError(f"indices {bad} are not pages of the set: expected 0 <= i < {len(ds)}")
    p = ds.params
    H, W, a = p.height_px, p.width_px, p.pixel_size_um
    nrows = -(-len(idx) // ncols)
    if fig is None:
        fig = plt.figure(figsize=(1.6 * ncols, 1.6 * nrows * H / W + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    lab = ds.labels
    for ax in axes[len(idx) :]:
        ax.set_axis_off()
    for ax, i in zip(axes, idx, strict=False):
        row = lab.iloc[i]
        ax.imshow(
            ds.images[i], cmap=cmap, extent=(-0.5, W - 0.5, H - 0.5, -0.5), interpolation="nearest"
        )
        if trajectory:
            tr = np.asarray(ds.trajectories[i])
            ax.plot(
                tr[:, 0] / a, tr[:, 1] / a, color=TRAJ_COLOUR, lw=0.6, alpha=0.8, label="trajectory"
            )
        if box:
            ax.add_patch(
                Rectangle(
                    (row.bbox_x0, row.bbox_y0),
                    row.bbox_x1 - row.bbox_x0,
                    row.bbox_y1 - row.bbox_y0,
                    fill=False,
                    ec=BOX_COLOUR,
                    lw=0.8,
                    ls="--",
                    label="box",
                )
            )
        ax.plot(row.x_px, row.y_px, "+", color=CENTROID_COLOUR, ms=9, mew=1.5, label="centroid")
        ax.set_xlim(-0.5, W - 0.5)
        ax.set_ylim(H - 0.5, -0.5)
        ax.set_title(f"#{int(row.frame)}  D={row.D_um2_per_s:.2f}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    if title is not None:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_D_histogram(
    D, low: float | None = None, high: float | None = None, bins: int = 40, ax=None, title: str | None = None
):
    """Density histogram of per-image diffusion coefficients and the uniform density on [low, high].

    ``title``, if given, is the axes' title.

    Returns
    -------
    Axes
    """
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 1 or D.size == 0:
        raise ValueError(f"D has shape {D.shape}: expected a non-empty 1-D array")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3), layout="constrained")
    lo = float(D.min()) if low is None else float(low)
    hi = float(D.max()) if high is None else float(high)
    ax.hist(
        D,
        bins=bins,
        range=(lo, hi) if hi > lo else None,
        density=True,
        color="0.6",
        ec="white",
        label=f"{D.size:,} images",
    )
    if hi > lo:
        ax.plot(
            [lo, lo, hi, hi],
            [0, 1 / (hi - lo), 1 / (hi - lo), 0],
            color="tab:red",
            lw=1.5,
            label=f"uniform on [{lo:g}, {hi:g}]",
        )
    ax.set_xlabel("D (µm²/s)")
    ax.set_ylabel("density")
    ax.legend(fontsize="small", loc="lower center")
    if title is not None:
        ax.set_title(title)
    return ax
