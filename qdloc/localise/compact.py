"""Our own localiser: a compact heat-map network designed for these images.

The problem
-----------
One quantum dot per 24 x 25 image, a Gaussian PSF of σxy = 3 px, few photons
on a background of ``N_bkg`` = 8.4 per pixel, and motion blur that is mostly
vertical (the dot moves during the 1.1 ms retrace between lines, hardly during
the 50 µs of one line). The label is the centroid of the whole trajectory,
including the parts recorded while the beam was far from the dot.

The network (:class:`CompactNet`)
---------------------------------
1. Input normalisation ``(counts - N_bkg) / sqrt(N_bkg)``: background pixels
   have mean 0 and variance 1 whatever the calibration.
2. Space-to-depth: the image (padded with one background column to 24 x 26)
   becomes 4 channels on a 12 x 13 grid of 2 x 2 cells. This loses nothing
   (the PSF is 3 px wide, far wider than a cell) and makes every later layer
   4x cheaper. Two coordinate channels (the cell's column and row, scaled to
   [-1, 1]) tell the network where it is in the frame, hence *when* the beam
   passed there (the scan is row by row): the unobserved part of the
   trajectory, and so the uncertainty, depends on it.
3. A stem convolution and ``len(dilations)`` residual blocks
   ``h <- h + ReLU(BN(conv3x3_d(h)))`` with dilations 1, 2, 1, 2, ...: a
   receptive field of about 30 px, the whole frame.
4. A 1 x 1 head with five maps on the cell grid: a logit ``l``, offsets
   ``(ox, oy)`` in px, and log-variances ``(vx, vy)``.
5. Sub-pixel read-out by spatial expectation: ``p = softmax(l)`` over the
   156 cells and ``x = sum p (cx + ox)``, ``y = sum p (cy + oy)``,
   ``log σx² = sum p vx``, ``log σy² = sum p vy`` (cell centres ``cx, cy`` in
   px). Exactly one prediction per image.

Training (:func:`train_compact`)
--------------------------------
Fresh simulated images every epoch (the simulator makes several thousand
images per second, faster than the network learns from them, so no image is
seen twice), with D drawn uniformly per image in ``D_range_um2_per_s`` =
[0.5, 2.0] µm²/s: wider than the test sets' 0.75 .. 1.75, so that the test
values lie inside the training range rather than at its edges, where a
regressor is pulled inwards. The loss is the β-NLL (Seitzer et al. 2022) of a
Gaussian with the predicted mean and variance, β = 0.5: the variance head
learns the expected squared error, and each image's position error is
weighted by ``1/σ`` (detached), between the squared error (β = 1) and the
plain NLL (β = 0) whose weighting lets hard images be given up. AdamW with a
one-cycle learning-rate schedule; model selection on the validation split by
the mean localisation error (:data:`SELECT_BY`). Every epoch is checkpointed
through :class:`qdloc.localise.checkpoints.Checkpointer`, and the data of epoch ``e``
depend only on ``(seed, e)``, so ``resume=True`` gives bit-identical weights.

Localisation (:func:`compact_locate`) and the symmetries of the scan
--------------------------------------------------------------------
Test-time averaging uses the mirror in x (``tta=True``): mirroring the
columns turns left-to-right lines into right-to-left ones, i.e. reverses time
*within* each line. A line lasts 50 µs, in which the dot moves about 10 nm
(D = 1 µm²/s), against 210 nm for the PSF and 1.1 ms between lines, so the
mirrored image is, to that accuracy, another sample of the same simulator
with the mirrored centroid as its label. The 180° rotation reverses the whole
scan in time; Brownian *steps* are time-reversible, but this simulator starts
every walk inside the start box ``[m, W-1-m] x [m, H-1-m]`` (and in focus),
and does not end it there, so rotated images show walks that *end* in the
box: another population, on which a network trained on the real one is
measurably worse (chapter 05). ``tta="rot180"`` and ``tta="all"`` exist for
that comparison. The two views' positions (mapped back) and variances are
averaged. The score is ``-sigma_px``, the predicted standard deviation, so
that the precision-recall ranking puts the reliable estimates first.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from qdloc import __version__
from qdloc.data.dataset import draw_D, load_dataset
from qdloc.data.presets import PAPER_PRESET
from qdloc.eval.metrics import auc_table
from qdloc.localise.checkpoints import (
    Checkpointer,
    ModelFileError,
    load_model_file,
    rng_state,
    save_model_file,
    seed_everything,
)
from qdloc.localise.registry import shipped_model
from qdloc.localise.training import (
    check_time_budget,
    restore_state,
    run_epochs,
    stderr_log,
    torch_settings,
)
from qdloc.sim.params import SimParams, check_int
from qdloc.sim.simulate import iter_simulate

__all__ = [
    "KIND",
    "DEFAULT_MODEL_PATH",
    "PROFILES",
    "CompactConfig",
    "CompactNet",
    "TrainResult",
    "train_compact",
    "compact_locate",
    "load_compact",
    "normalise_counts",
    "rotate180_xy",
    "map_view_xy",
    "VIEWS",
    "TTA_VIEWS",
    "fresh_training_batch",
    "count_parameters",
    "macs_per_image",
]

KIND = "compact"
#: Where :func:`compact_locate` looks for the shipped weights (relative to the working directory).
#: The shipped weights (in the project folder that holds the package), whatever the working directory.
DEFAULT_MODEL_PATH = str(shipped_model(KIND))
#: Fresh training images come from the simulator stream ``FRESH_SEED_BASE + seed``: far from the
#: seeds of the paper's data sets (1, 2, 10, 11, 12), so training never sees a validation or test image.
FRESH_SEED_BASE = 1_000_000
#: Model selection: the epoch with the smallest mean localisation error on the validation split
#: (less noisy than an AUC, which depends on a few hundred images near the tolerance).
SELECT_BY = "val_mean_error_nm"
#: Validation split used when ``data_dir`` holds none (the paper preset's ``val``: seed 2,
#: 2,984 images, D uniform in [0.75, 1.75] µm²/s).
VAL_SPEC = {"n": 2984, "seed": 2, "D": ("uniform", 0.75, 1.75)}


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------
def _fail(name: str, value: Any, expected: str) -> None:
    raise ValueError(f"{name}={value!r} is not allowed: expected {expected}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class CompactConfig:
    """Settings of the compact network and of its training (validated).

    Parameters
    ----------
    width : int
        Channels of the stem and of every residual block.
    dilations : tuple of int
        One residual block per entry, with that dilation of its 3 x 3 convolution.
    coord_channels : bool
        Append the cell's (column, row) scaled to [-1, 1] as two input channels.
    epochs : int
        Training epochs (the learning-rate schedule spans all of them).
    images_per_epoch : int
        Fresh simulated images per epoch (profile ``"paper"``: ignored, the
        fixed training set is used).
    batch_size : int
        Images per optimiser step.
    lr : float
        Peak learning rate of the one-cycle schedule (AdamW).
    weight_decay : float
        AdamW weight decay.
    warmup_frac : float
        Fraction of the steps spent warming the learning rate up.
    grad_clip : float
        Largest gradient norm (0: no clipping).
    D_range_um2_per_s : (float, float)
        Training D is drawn uniformly per image in this range (µm²/s).
    var_weight : float
        Weight of the variance head's Gaussian negative log-likelihood.
    loss : {"mse", "beta_nll"}
        ``"mse"``: squared error of the position plus ``var_weight`` times the
        Gaussian NLL of the (detached) error for the variance head.
        ``"beta_nll"``: the β-NLL of Seitzer et al. (2022), the Gaussian NLL of
        each axis weighted by the detached ``σ^(2β)``: positions with a small
        predicted σ weigh more (β = 1 gives the squared error, β = 0 the NLL).
    beta : float
        β of ``"beta_nll"``.
    fresh_data : bool
        True: fresh simulated images every epoch. False: the fixed training
        set ``data_dir/train`` (the paper's 29,838 images), reshuffled each epoch.
    val_tta : bool
        Validate with the 180° test-time averaging that :func:`compact_locate` uses.
    threads : int
        Torch intra-op threads while training.
    """

    width: int = 24
    dilations: tuple[int, ...] = (1, 2, 1, 2)
    coord_channels: bool = True
    epochs: int = 12
    images_per_epoch: int = 49152
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_frac: float = 0.1
    grad_clip: float = 5.0
    D_range_um2_per_s: tuple[float, float] = (0.5, 2.0)
    var_weight: float = 1.0
    loss: str = "beta_nll"
    beta: float = 0.5
    fresh_data: bool = True
    val_tta: bool = True
    threads: int = 2

    def __post_init__(self) -> None:
        for name in ("width", "epochs", "images_per_epoch", "batch_size", "threads"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                _fail(name, v, "an integer >= 1")
            object.__setattr__(self, name, int(v))
        if self.width > 512:
            _fail("width", self.width, "an integer in [1, 512]")
        dil = self.dilations
        if isinstance(dil, str) or not isinstance(dil, Sequence) or not all(_is_int(d) and 1 <= d <= 6 for d in dil):
            _fail("dilations", dil, "a sequence of integers in [1, 6] (one residual block each)")
        object.__setattr__(self, "dilations", tuple(int(d) for d in dil))
        for name in ("coord_channels", "fresh_data", "val_tta"):
            if not isinstance(getattr(self, name), bool):
                _fail(name, getattr(self, name), "True or False")
        for name, lo, hi in (("lr", 0.0, 1.0), ("weight_decay", 0.0, 1.0), ("warmup_frac", 0.0, 0.9),
                             ("grad_clip", 0.0, 1e6), ("var_weight", 0.0, 1e3), ("beta", 0.0, 1.0)):
            v = getattr(self, name)
            if not _is_num(v) or not (lo <= v <= hi) or (name == "lr" and v == 0):
                _fail(name, v, f"a finite number in {'(' if name == 'lr' else '['}{lo}, {hi}]")
            object.__setattr__(self, name, float(v))
        if self.loss not in ("mse", "beta_nll"):
            _fail("loss", self.loss, "'mse' or 'beta_nll'")
        r = self.D_range_um2_per_s
        if (isinstance(r, str) or not isinstance(r, Sequence) or len(r) != 2 or not all(_is_num(v) for v in r)
                or not 0 <= r[0] <= r[1]):
            _fail("D_range_um2_per_s", r, "(low, high) with 0 <= low <= high, in µm²/s")
        object.__setattr__(self, "D_range_um2_per_s", (float(r[0]), float(r[1])))

    def replace(self, **changes) -> CompactConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        d["D_range_um2_per_s"] = list(self.D_range_um2_per_s)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CompactConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown CompactConfig field(s) {unknown}; expected a subset of {sorted(known)}")
        d = dict(d)
        for k in ("dilations", "D_range_um2_per_s"):
            if k in d and isinstance(d[k], list):
                d[k] = tuple(d[k])
        return cls(**d)

    @property
    def architecture(self) -> dict:
        """The fields that define the network (the rest only affect training)."""
        return {"width": self.width, "dilations": list(self.dilations), "coord_channels": self.coord_channels}


#: Training profiles. ``cpu``: the shipped model, fresh data, minutes on two cores.
#: ``paper``: the same network on the paper's fixed training set for 20 epochs (the paper's
#: epoch count), for comparing fixed with fresh data. ``test``: a tiny run for the unit tests.
PROFILES: dict[str, CompactConfig] = {
    "cpu": CompactConfig(),
    "paper": CompactConfig(epochs=20, fresh_data=False),
    "test": CompactConfig(width=12, dilations=(1, 2), epochs=2, images_per_epoch=2048, batch_size=128,
                          lr=5e-3, val_tta=False, threads=1),
}


# --------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------
class _ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class _Residual(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class CompactNet(nn.Module):
    """Heat map + offsets + log-variance on a 2 x 2-cell grid, read out by spatial expectation.

    The input of :meth:`forward` is ``(n, 1, H, W)`` float, already normalised
    (:func:`normalise_counts`); the output is ``(xy, log_var)``, both ``(n, 2)``:
    positions in px (x = column, y = row, pixel centres at integers) and the
    predicted log-variances of their errors in px².

    Parameters
    ----------
    config : CompactConfig
        Only ``width``, ``dilations`` and ``coord_channels`` matter here.
    image_shape : (int, int)
        ``(H, W)`` of the images (24 x 25 in the paper).
    """

    def __init__(self, config: CompactConfig | None = None, image_shape: tuple[int, int] = (24, 25)) -> None:
        super().__init__()
        config = config or CompactConfig()
        H, W = int(image_shape[0]), int(image_shape[1])
        if H < 2 or W < 2:
            raise ValueError(f"image_shape={tuple(image_shape)!r} is not allowed: expected H, W >= 2")
        self.config = config
        self.image_shape = (H, W)
        self.pad_h, self.pad_w = H % 2, W % 2
        hc, wc = (H + self.pad_h) // 2, (W + self.pad_w) // 2
        c = config.width
        c_in = 4 + (2 if config.coord_channels else 0)
        self.stem = _ConvBNReLU(c_in, c)
        self.blocks = nn.Sequential(*[_Residual(_ConvBNReLU(c, c, d)) for d in config.dilations])
        self.head = nn.Conv2d(c, 5, 1)
        # cell centres in px: cell (r, q) holds pixels rows 2r, 2r+1 and columns 2q, 2q+1
        rr, qq = torch.meshgrid(torch.arange(hc, dtype=torch.float32), torch.arange(wc, dtype=torch.float32),
                                indexing="ij")
        self.register_buffer("cell_x", (2 * qq + 0.5).reshape(-1), persistent=False)
        self.register_buffer("cell_y", (2 * rr + 0.5).reshape(-1), persistent=False)
        coords = torch.stack([2 * qq / max(wc - 1, 1) - 1, 2 * rr / max(hc - 1, 1) - 1])[None]
        self.register_buffer("coords", coords, persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The head's five maps, ``(n, cells, 5)``: logit, ox, oy, log σx², log σy² per cell."""
        if x.ndim != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) != self.image_shape:
            raise ValueError(f"input has shape {tuple(x.shape)}; expected (n, 1, {self.image_shape[0]}, "
                             f"{self.image_shape[1]})")
        if self.pad_h or self.pad_w:
            x = F.pad(x, (0, self.pad_w, 0, self.pad_h))  # one background (= 0) column / row
        x = F.pixel_unshuffle(x, 2)
        if self.config.coord_channels:
            x = torch.cat([x, self.coords.expand(x.shape[0], -1, -1, -1).to(x.dtype)], 1)
        x = x.contiguous(memory_format=torch.channels_last)
        h = self.blocks(self.stem(x))
        # channels-last: (n, C, hc, wc) -> (n, cells, C) is a view; the 1 x 1 head is one matmul
        n, c = h.shape[:2]
        h = h.permute(0, 2, 3, 1).reshape(n, -1, c)
        return F.linear(h, self.head.weight.view(5, c), self.head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.features(x).float()
        p = torch.softmax(out[..., 0], dim=-1)  # (n, cells)
        # sum over cells of p * (cell centre + offset) and of p * log-variance
        e = torch.bmm(p.unsqueeze(1), out[..., 1:5]).squeeze(1)  # (n, 4)
        xy = e[:, 0:2] + torch.stack([p @ self.cell_x, p @ self.cell_y], 1)
        return xy, e[:, 2:4]


def count_parameters(net: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def macs_per_image(net: CompactNet) -> int:
    """Multiply-accumulates of one forward pass (convolutions only; the rest is negligible)."""
    H, W = net.image_shape
    cells = ((H + net.pad_h) // 2) * ((W + net.pad_w) // 2)
    total = 0
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            total += cells * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
    return total


def _fold_bn(net: CompactNet) -> CompactNet:
    """An inference copy with every BatchNorm folded into its convolution (same outputs, faster)."""
    import copy

    out = copy.deepcopy(net).eval()
    for seq in [m for m in out.modules() if isinstance(m, _ConvBNReLU)]:
        conv, bn = seq[0], seq[1]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                          conv.dilation, bias=True)
        with torch.no_grad():
            fused.weight.copy_(conv.weight * scale[:, None, None, None])
            fused.bias.copy_(bn.bias - bn.running_mean * scale)
        seq[0] = fused
        seq[1] = nn.Identity()
    for p in out.parameters():
        p.requires_grad_(False)
    return out.to(memory_format=torch.channels_last)


# --------------------------------------------------------------------------
# Inputs, symmetry, inference
# --------------------------------------------------------------------------
def normalise_counts(images, n_bkg: float) -> torch.Tensor:
    """``(counts - N_bkg) / sqrt(N_bkg)`` as a float32 tensor ``(n, 1, H, W)``."""
    t = torch.as_tensor(np.asarray(images, dtype=np.float32))
    s = 1.0 / math.sqrt(max(n_bkg, 1.0))
    return ((t - float(n_bkg)) * s).unsqueeze(1)


def rotate180_xy(xy, image_shape: tuple[int, int]):
    """Map positions ``(…, 2)`` (x = column, y = row) through a 180° rotation of an H x W image.

    ``x' = W - 1 - x``, ``y' = H - 1 - y`` (pixel centres at integers). The map is its own inverse.
    """
    return map_view_xy("rot180", xy, image_shape)


#: Image transforms for test-time averaging: name -> (flipped image axes, flip x?, flip y?).
VIEWS: dict[str, tuple[tuple[int, ...], bool, bool]] = {
    "identity": ((), False, False),
    "flip_x": ((-1,), True, False),
    "flip_y": ((-2,), False, True),
    "rot180": ((-2, -1), True, True),
}
#: What ``tta=`` selects: True is the mirror in x, the symmetry that holds (see :func:`compact_locate`).
TTA_VIEWS: dict[Any, tuple[str, ...]] = {
    False: ("identity",),
    True: ("identity", "flip_x"),
    "flip_x": ("identity", "flip_x"),
    "rot180": ("identity", "rot180"),
    "all": ("identity", "flip_x", "flip_y", "rot180"),
}


def map_view_xy(view: str, xy, image_shape: tuple[int, int]):
    """Positions ``(…, 2)`` in a transformed image <-> in the original (each map is its own inverse).

    ``view`` is a key of :data:`VIEWS`; the image was transformed with
    ``numpy.flip(images, VIEWS[view][0])``.
    """
    if view not in VIEWS:
        _fail("view", view, f"one of {list(VIEWS)}")
    H, W = image_shape
    _, fx, fy = VIEWS[view]
    if isinstance(xy, torch.Tensor):
        x = (W - 1) - xy[..., 0] if fx else xy[..., 0]
        y = (H - 1) - xy[..., 1] if fy else xy[..., 1]
        return torch.stack([x, y], -1)
    xy = np.asarray(xy, dtype=np.float64)
    x = (W - 1) - xy[..., 0] if fx else xy[..., 0]
    y = (H - 1) - xy[..., 1] if fy else xy[..., 1]
    return np.stack([x, y], -1)


def _tta_views(tta) -> tuple[str, ...]:
    key = tta if isinstance(tta, str) else bool(tta) if isinstance(tta, bool | np.bool_) else None
    if key not in TTA_VIEWS:
        _fail("tta", tta, f"one of {list(TTA_VIEWS)}")
    return TTA_VIEWS[key]


def _predict(net: CompactNet, images, n_bkg: float, tta, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (n, 2) px and variances (n, 2) px² of an inference net (BN folded, eval mode).

    With several views, the positions (mapped back to the original image) and
    the variances are averaged over the views.
    """
    views = _tta_views(tta)
    n = len(images)
    xy = np.empty((n, 2))
    var = np.empty((n, 2))
    with torch.inference_mode():
        for i in range(0, n, batch):
            x = normalise_counts(images[i:i + batch], n_bkg)
            m = x.shape[0]
            if len(views) > 1:
                x = torch.cat([torch.flip(x, VIEWS[v][0]) if VIEWS[v][0] else x for v in views])
            p, lv = net(x)
            v = torch.exp(lv)
            if len(views) > 1:
                p = torch.stack([map_view_xy(vw, p[k * m:(k + 1) * m], net.image_shape)
                                 for k, vw in enumerate(views)]).mean(0)
                v = v.view(len(views), m, 2).mean(0)
            xy[i:i + m] = p.double().numpy()
            var[i:i + m] = v.double().numpy()
    return xy, var


def _as_stack(images) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"images has shape {arr.shape} and dtype {arr.dtype}; expected numeric (n, H, W)")
    return arr


def load_compact(model_path=DEFAULT_MODEL_PATH, image_shape=None) -> tuple[CompactNet, dict]:
    """Load a compact model file; return ``(inference net, model file dict)``.

    Raises
    ------
    ModelFileError
        Missing, corrupt, another kind of model, another image size, or weights
        that do not fit the stored configuration.
    """
    obj = load_model_file(model_path, kind=KIND, image_shape=image_shape)
    try:
        config = CompactConfig.from_dict(obj["config"])
        net = CompactNet(config, tuple(obj["image_shape"]))
        net.load_state_dict(obj["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"model file {str(model_path)!r} does not hold a valid compact model: "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    return _fold_bn(net), obj


def compact_locate(images, model_path=DEFAULT_MODEL_PATH, tta: bool | str = True, batch: int = 128,
                   threads: int | None = None) -> pd.DataFrame:
    """Localise the dot in every image with a trained compact model.

    Parameters
    ----------
    images : array_like (n, H, W) or (H, W)
        Photon counts.
    model_path : path
        A model file written by :func:`train_compact` (default: the shipped weights,
        ``data/models/compact/compact.pt`` relative to the working directory).
    tta : bool or str
        True (default): average the estimates of the image and of its mirror
        in x (a symmetry of the scan to about 10 nm, see the module
        docstring), at twice the compute. False: one view. ``"rot180"``,
        ``"all"`` (identity, both mirrors, rotation): for comparisons.
    batch : int
        Images per forward pass (times the views of ``tta``); 128 was the fastest on a 2-core CPU.
    threads : int, optional
        Torch intra-op threads for this call (default: leave torch's setting).

    Returns
    -------
    DataFrame
        One row per image: ``frame`` (index in the stack), ``x``, ``y`` (px,
        x = column, pixel centres at integers), ``score`` = ``-sigma_px`` and
        ``sigma_px`` = sqrt((σx² + σy²) / 2), the predicted per-axis error.

    Raises
    ------
    ModelFileError
        For a missing or corrupt model file, one of another kind, or one trained
        for another image size.
    ValueError
        For images that are not a numeric stack, or a bad ``batch``.
    """
    stack = _as_stack(images)
    if not _is_int(batch) or batch < 1:
        _fail("batch", batch, "an integer >= 1")
    net, obj = load_compact(model_path, image_shape=stack.shape[1:])
    n_bkg = float(obj["sim_params"]["n_bkg"])
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        xy, var = _predict(net, stack, n_bkg, tta, int(batch))
    finally:
        torch.set_num_threads(old)
    sigma = np.sqrt(var.mean(1))
    return pd.DataFrame({"frame": np.arange(len(stack), dtype=np.int64), "x": xy[:, 0], "y": xy[:, 1],
                         "score": -sigma, "sigma_px": sigma})


# --------------------------------------------------------------------------
# Data for training and validation
# --------------------------------------------------------------------------
def _image_dtype(params: SimParams):
    """uint16 photon counts, or float32 with a photomultiplier model (``pmt_excess_noise > 1``)."""
    return np.float32 if params.pmt_excess_noise > 1.0 else np.uint16


def fresh_training_batch(n: int, params: SimParams, seed: int, epoch: int,
                         D_range_um2_per_s: tuple[float, float], chunk: int = 4096):
    """The fresh training images of one epoch: ``(images (n, H, W), centroids (n, 2), D (n,))``.

    Images ``[epoch·n, (epoch+1)·n)`` of simulator stream ``FRESH_SEED_BASE + seed``, with D
    drawn uniformly in ``D_range_um2_per_s`` by ``numpy.random.default_rng([FRESH_SEED_BASE + seed, epoch])``:
    they depend only on ``(seed, epoch, n)`` and the parameters.
    """
    rng = np.random.default_rng([FRESH_SEED_BASE + seed, epoch])
    lo, hi = D_range_um2_per_s
    D = lo + (hi - lo) * rng.random(n)
    images = np.empty((n, params.height_px, params.width_px), dtype=_image_dtype(params))
    cen = np.empty((n, 2))
    pos = 0
    for sim in iter_simulate(n, params, seed=FRESH_SEED_BASE + seed, D=D, chunk=chunk, start=epoch * n):
        m = len(sim)
        images[pos:pos + m] = sim.images
        cen[pos:pos + m] = sim.centroids
        pos += m
    return images, cen, D


def _simulate_set(n: int, params: SimParams, seed: int, D) -> tuple[np.ndarray, np.ndarray]:
    """Images and centroids of a preset-like set, in memory (same arrays as the set on disk)."""
    if isinstance(D, tuple):
        D = draw_D(D, n, seed)
    images = np.empty((n, params.height_px, params.width_px), dtype=_image_dtype(params))
    cen = np.empty((n, 2))
    pos = 0
    for sim in iter_simulate(n, params, seed=seed, D=D, chunk=4096):
        images[pos:pos + len(sim)] = sim.images
        cen[pos:pos + len(sim)] = sim.centroids
        pos += len(sim)
    return images, cen


def _load_split(data_dir, name: str, params: SimParams, spec: dict, log) -> tuple[np.ndarray, np.ndarray, str]:
    """``(images, truth_xy, source)`` of a split: from ``data_dir/name`` when it exists and was made
    with ``params``, otherwise simulated in memory from ``spec``."""
    if data_dir is not None and (Path(data_dir) / name / "params.json").exists():
        ds = load_dataset(Path(data_dir) / name, verify=False)
        if ds.params == params:
            return np.asarray(ds.images), ds.truth_xy, str(Path(data_dir) / name)
        log(f"{Path(data_dir) / name} was simulated with other parameters than the training's; "
            f"simulating the {name} split in memory instead")
    images, cen = _simulate_set(spec["n"], params, spec["seed"], spec["D"])
    return images, cen, f"simulated in memory (seed {spec['seed']})"


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------
@dataclass
class TrainResult:
    """What :func:`train_compact` produced."""

    model_path: Path
    out_dir: Path
    history: pd.DataFrame
    best_epoch: int
    wall_s: float
    stopped_early: bool = False
    meta: dict = field(default_factory=dict)


def _loss(xy, log_var, target, cfg: CompactConfig):
    """Training loss and the mean squared position error (px², summed over x and y)."""
    err2 = (xy - target).square()
    pos = err2.sum(1).mean()
    lv = log_var.clamp(-12.0, 12.0)
    if cfg.loss == "mse":
        nll = 0.5 * (lv + err2.detach() * torch.exp(-lv)).sum(1).mean()
        return pos + cfg.var_weight * nll, pos
    w = torch.exp(cfg.beta * lv).detach()  # σ^(2β)
    return (w * 0.5 * (lv + err2 * torch.exp(-lv))).sum(1).mean(), pos


def _evaluate(net: CompactNet, images, truth, n_bkg: float, tta: bool, pixel_size_nm: float) -> dict:
    inf = _fold_bn(net)
    xy, var = _predict(inf, images, n_bkg, tta, 256)
    sigma = np.sqrt(var.mean(1))
    pred = pd.DataFrame({"frame": np.arange(len(xy)), "x": xy[:, 0], "y": xy[:, 1], "score": -sigma})
    auc = auc_table(pred, truth, pixel_size_nm=pixel_size_nm)
    d = np.hypot(xy[:, 0] - truth[:, 0], xy[:, 1] - truth[:, 1]) * pixel_size_nm
    err2 = (xy - truth) ** 2
    nll = 0.5 * np.mean(np.sum(np.log(2 * np.pi * var) + err2 / var, 1))
    return {"val_auc_70nm": auc[70.0], "val_auc_140nm": auc[140.0], "val_auc_210nm": auc[210.0],
            "val_mean_error_nm": float(d.mean()), "val_median_error_nm": float(np.median(d)),
            "val_rmse_nm": float(np.sqrt(np.mean(d**2))), "val_nll": float(nll),
            "val_sigma_ratio": float(np.sqrt(np.mean(err2) / np.mean(var)))}


def _machine() -> str:
    """The CPU model (from /proc/cpuinfo where there is one), its architecture and count, the OS."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu or 'unknown CPU'} ({platform.machine()}), {os.cpu_count()} CPUs, {platform.system()}"


def _compact_config(profile: str, config: CompactConfig | None, overrides: dict) -> CompactConfig:
    """The configuration of a run: the profile's (or ``config``), with ``overrides`` applied."""
    if profile not in PROFILES:
        _fail("profile", profile, f"one of {sorted(PROFILES)}")
    cfg = config if config is not None else PROFILES[profile]
    return cfg.replace(**overrides) if overrides else cfg


def _resume_state(ck: Checkpointer, resume: bool, cfg: CompactConfig, params: SimParams, seed: int,
                  log) -> dict | None:
    """The checkpoint to resume from (checked against the run's settings), or None.

    Without ``resume``, an earlier run's files in the folder are deleted.
    """
    state = ck.load() if resume else None
    if resume and state is None:
        log(f"no checkpoint in {ck.dir}; starting from scratch")
    if state is not None:
        if state.get("kind") != KIND:
            raise ModelFileError(f"checkpoint {str(ck.last)!r} is not a compact-model checkpoint")
        same_params = SimParams.normalize_dict(state["sim_params"]) == params.to_dict()
        if state["config"] != cfg.to_dict() or not same_params or state["seed"] != seed:
            raise ValueError(f"cannot resume from {ck.last}: it was made with another "
                             "configuration, simulator parameters or seed; start afresh "
                             "(resume=False) or pass "
                             "the same ones")
    elif not resume:
        for f in (ck.last, ck.best, ck.history_csv, ck.dir / "compact.pt"):
            f.unlink(missing_ok=True)
    return state


class _CompactRun:
    """The compact model's steps of the shared epoch loop (:func:`.training.run_epochs`).

    Building it seeds nothing: the caller seeds torch first (the weights' initialisation).
    """

    def __init__(self, cfg: CompactConfig, params: SimParams, seed: int, data_dir, ck: Checkpointer,
                 state: dict | None, progress: bool, log) -> None:
        self.cfg, self.params, self.seed, self.ck = cfg, params, seed, ck
        self.progress, self.log = progress, log
        self.shape = (params.height_px, params.width_px)
        self.net = CompactNet(cfg, self.shape)
        self.pixel_size_nm = params.pixel_size_um * 1000.0
        self.val_images, self.val_truth, self.val_source = _load_split(
            data_dir, "val", params, VAL_SPEC, log)
        self.fixed = None
        if not cfg.fresh_data:
            tr = PAPER_PRESET["train"]
            spec = {"n": tr.n, "seed": tr.seed, "D": tr.D}
            self.fixed = _load_split(data_dir, "train", params, spec, log)
        self.n_epoch = cfg.images_per_epoch if self.fixed is None else len(self.fixed[0])
        self.steps = self.n_epoch // cfg.batch_size
        if self.steps < 1:
            raise ValueError(f"images_per_epoch={self.n_epoch} < batch_size={cfg.batch_size}: "
                             "no step per epoch")
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=cfg.lr, total_steps=cfg.epochs * self.steps, pct_start=cfg.warmup_frac,
            anneal_strategy="cos", div_factor=25.0, final_div_factor=1e3)
        self.history: list[dict] = []
        self.best_epoch, self.used_s = 0, 0.0
        if state is not None:
            self.history = restore_state(state, self.net, self.opt, self.sched)
            self.best_epoch, self.used_s = int(state["best"]["epoch"]), float(state["train_s"])
        self.last_epoch_s = float(self.history[-1]["epoch_time_s"]) if self.history else 0.0

    def train(self, time_budget_s: float | None) -> bool:
        """Run the remaining epochs; True when the time budget stopped them."""
        def over_budget(history):
            if time_budget_s is None or self.used_s + self.last_epoch_s <= time_budget_s:
                return False
            self.log(f"time budget {time_budget_s:.0f} s reached after epoch {len(history)}; "
                     "resume=True continues")
            return True

        self.best_epoch, stopped = run_epochs(self.history, self.cfg.epochs, self.run_epoch,
                                              _better, self.save_best, self.end_epoch,
                                              self.best_epoch, over_budget)
        return stopped

    def _epoch_data(self, epoch0: int) -> tuple[np.ndarray, np.ndarray]:
        if self.fixed is None:
            images, target, _ = fresh_training_batch(self.n_epoch, self.params, self.seed, epoch0,
                                                     self.cfg.D_range_um2_per_s)
            return images, target
        rng = np.random.default_rng([FRESH_SEED_BASE + self.seed, epoch0])
        order = rng.permutation(self.n_epoch)
        return self.fixed[0][order], self.fixed[1][order]

    def _steps(self, x_all, y_all, epoch: int) -> tuple[float, float]:
        """One pass of optimiser steps; the summed loss and squared position error."""
        cfg = self.cfg
        tot = tot_pos = 0.0
        bar = None
        if self.progress:
            bar = tqdm(total=self.steps, desc=f"epoch {epoch}/{cfg.epochs}", leave=False,
                       file=sys.stderr)
        for s in range(self.steps):
            sl = slice(s * cfg.batch_size, (s + 1) * cfg.batch_size)
            xy, lv = self.net(x_all[sl])
            loss, pos = _loss(xy, lv, y_all[sl], cfg)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
            self.opt.step()
            self.sched.step()
            tot += loss.item()
            tot_pos += pos.item()
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        return tot, tot_pos

    def run_epoch(self, epoch: int) -> dict:
        """Train and validate epoch ``epoch`` (from 1); its history row."""
        t0 = time.perf_counter()
        images, target = self._epoch_data(epoch - 1)
        sim_s = time.perf_counter() - t0
        x_all = normalise_counts(images, self.params.n_bkg)
        y_all = torch.as_tensor(target, dtype=torch.float32)
        self.net.train()
        tot, tot_pos = self._steps(x_all, y_all, epoch)
        train_s = time.perf_counter() - t0
        self.net.eval()
        metrics = _evaluate(self.net, self.val_images, self.val_truth, self.params.n_bkg,
                            self.cfg.val_tta, self.pixel_size_nm)
        self.metrics = metrics
        epoch_s = time.perf_counter() - t0
        self.used_s += epoch_s
        self.last_epoch_s = epoch_s
        return {"epoch": epoch, "train_loss": tot / self.steps,
                "train_rmse_nm": math.sqrt(tot_pos / self.steps / 2) * self.pixel_size_nm,
                **metrics, "lr": self.sched.get_last_lr()[0], "sim_time_s": sim_s,
                "train_time_s": train_s - sim_s, "epoch_time_s": epoch_s, "elapsed_s": self.used_s}

    def save_best(self, epoch: int, row: dict) -> None:
        meta = {"epoch": epoch, "selected_by": SELECT_BY, **self.metrics}
        save_model_file(self.ck.best, KIND, self.cfg.to_dict(), self.net.state_dict(), self.shape,
                        self.params.to_dict(), meta=meta)

    def end_epoch(self, row: dict, best_epoch: int) -> None:
        score = self.history[best_epoch - 1][SELECT_BY] if best_epoch else math.inf
        self.ck.save({"kind": KIND, "epoch": row["epoch"], "history": self.history,
                      "model": self.net.state_dict(), "optimizer": self.opt.state_dict(),
                      "scheduler": self.sched.state_dict(), "rng": rng_state(),
                      "best": {"epoch": best_epoch, "score": score}, "train_s": self.used_s,
                      "config": self.cfg.to_dict(), "sim_params": self.params.to_dict(),
                      "seed": self.seed})
        self.log(f"epoch {row['epoch']:3d}/{self.cfg.epochs}: "
                 f"loss {row['train_loss']:.4f}  val AUC "

                 f"{row['val_auc_70nm']:.3f}/{row['val_auc_140nm']:.3f}/"
                 f"{row['val_auc_210nm']:.3f}  "
                 f"mean error {row['val_mean_error_nm']:.1f} nm  {row['epoch_time_s']:.1f} s "
                 f"(sim {row['sim_time_s']:.1f} s)")


def _better(row: dict, best_row: dict | None) -> bool:
    """Model selection: the smaller :data:`SELECT_BY` (the mean localisation error) wins."""
    return row[SELECT_BY] < (best_row[SELECT_BY] if best_row is not None else math.inf)


def _final_model(run: _CompactRun, model_path: Path, profile: str, command: str | None) -> dict:
    """Copy ``best.pt`` to ``model_path`` with the run's provenance; return that provenance."""
    best_obj = load_model_file(run.ck.best, kind=KIND)
    meta = {**best_obj["meta"], "best_epoch": run.best_epoch, "epochs": run.cfg.epochs,
            "profile": profile, "seed": run.seed, "train_s": run.used_s, "machine": _machine(),
            "torch": str(torch.__version__), "threads": run.cfg.threads,
            "command": command or "qdloc.localise.compact.train_compact(...)",
            "validation": run.val_source, "fresh_data_seed": FRESH_SEED_BASE + run.seed,
            "qdloc": __version__}
    save_model_file(model_path, KIND, best_obj["config"], best_obj["state_dict"], run.shape,
                    best_obj["sim_params"], meta=meta)
    return meta


def train_compact(data_dir, out_dir, profile: str = "cpu", seed: int = 0, resume: bool = False,
                  progress: bool = True, epochs: int | None = None,
                  time_budget_s: float | None = None,
                  params: SimParams | None = None, config: CompactConfig | None = None,
                  command: str | None = None, **overrides) -> TrainResult:
    """Train the compact localiser from scratch (or resume), on the CPU.

    Parameters
    ----------
    data_dir : path or None
        Folder of the paper preset (``train``, ``val``, ...; see :mod:`qdloc.data.dataset`).
        The validation split is read from ``data_dir/val`` when it exists and was
        simulated with ``params``; otherwise it is simulated in memory with the
        preset's seed and D. Profile ``"paper"`` also reads ``data_dir/train``.
        ``None``: everything in memory.
    out_dir : path
        Where ``last.pt`` (resume state), ``best.pt`` (model file of the selected
        epoch), ``history.csv`` and ``compact.pt`` (the final model file, = best) go.
    profile : {"cpu", "paper", "test"}
        Starting configuration (:data:`PROFILES`).
    seed : int
        Seeds the weights' initialisation and the fresh data of every epoch.
    resume : bool
        Continue from ``out_dir/last.pt``: the result is bit-identical to an
        uninterrupted run. The configuration and parameters must match the checkpoint's.
    progress : bool
        Print a progress bar and one line per epoch (to stderr).
    epochs : int, optional
        Override the profile's number of epochs.
    time_budget_s : float, optional
        Stop (after checkpointing) before an epoch that would end past this many
        seconds of training, counted over resumed runs too; ``resume=True`` continues.
        The schedule still spans ``epochs``, so a stopped run is not a shorter schedule.
    params : SimParams, optional
        Simulator parameters of the training data (default: ``SimParams()`` as it
        is at the time of the call: the calibrated defaults).
    config : CompactConfig, optional
        Replaces the profile's configuration.
    command : str, optional
        The command line to record in the model file's provenance.
    **overrides
        Other :class:`CompactConfig` fields to change (e.g. ``width=24``).

    Returns
    -------
    TrainResult
    """
    seed = check_int("seed", seed)
    if epochs is not None:
        overrides["epochs"] = epochs
    cfg = _compact_config(profile, config, overrides)
    check_time_budget(time_budget_s)
    params = params if params is not None else SimParams()
    out_dir = Path(out_dir)
    ck = Checkpointer(out_dir)
    log = stderr_log(progress)
    t_start = time.perf_counter()
    with torch_settings(cfg.threads):
        state = _resume_state(ck, resume, cfg, params, seed, log)
        seed_everything(seed)
        run = _CompactRun(cfg, params, seed, data_dir, ck, state, progress, log)
        log(f"compact: {count_parameters(run.net):,} parameters, "
            f"{macs_per_image(run.net) / 1e6:.2f} M MACs/image; "
            f"epochs {len(run.history) + 1}..{cfg.epochs}; "
            f"validation: {run.val_source}")
        stopped = run.train(time_budget_s)
    wall = time.perf_counter() - t_start
    model_path = out_dir / "compact.pt"
    meta = {}
    if not stopped and ck.best.exists():
        meta = _final_model(run, model_path, profile, command)

    return TrainResult(model_path=model_path, out_dir=out_dir, history=pd.DataFrame(run.history),
                       best_epoch=run.best_epoch, wall_s=wall, stopped_early=stopped, meta=meta)


# --------------------------------------------------------------------------
# The floor: Cramér-Rao bound of a still dot
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Evaluation on the paper's test sets, and the signal scan
# --------------------------------------------------------------------------




