"""The paper's localiser: torchvision's Keypoint R-CNN with one class (the dot) and one keypoint.

Netterstrøm et al. (§4.2, §4.3, §4.7) train torchvision's
``keypointrcnn_resnet50_fpn``, started from its MS COCO weights, to predict a
box around the quantum dot and one keypoint in it: the centroid of the dot's
trajectory during the scan. This module builds that model, trains it on the
paper's sets (:func:`train_frcnn`) and localises with it (:func:`frcnn_locate`).

Model
-----
Two classes (background, dot) and one keypoint. The training target of an
image is the box of :mod:`qdloc.data.dataset` (``bbox_x0 .. bbox_y1``: the
trajectory's bounding box padded by ``2·σxy / a`` px, clipped to the image)
and the keypoint ``(x_px, y_px)``, visible.

Input: the photon counts of an image, min-max normalised per image to
``[0, 1]`` (``(c - min) / (max - min)``; a constant image gives zeros) and
repeated on three channels, as torchvision's detection models expect RGB in
``[0, 1]``; the model's own transform then subtracts the ImageNet mean and
divides by its standard deviation (kept, so that COCO weights see the input
statistics they were trained with) and resizes. Per-image normalisation makes
the input independent of the absolute brightness (``n_qd``, ``n_bkg``), which
a calibration may still change. No augmentation: a horizontal or vertical
flip would reverse the scan direction, and the motion blur of a pixel-by-pixel
scan is not symmetric under it.

Coordinates
-----------
qdloc puts pixel centres at integers: pixel (row i, column j) covers
``[j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]``. torchvision's detection models
use pixel *edges*: the image covers ``[0, W] x [0, H]``, the centre of pixel
``j`` is ``j + 0.5``. Resizing multiplies coordinates by the scale
(``resize_boxes``, ``resize_keypoints``), which is exact for edge
coordinates and bilinear resampling with ``align_corners=False``; the
keypoint head encodes a keypoint as the heatmap cell that contains it
(``floor``) and decodes a cell as its centre (``d + 0.5``, Heckbert 1990).
So boxes and keypoints go in as ``px + 0.5`` and come out as ``tv - 0.5``
(:func:`px_to_tv`, :func:`tv_to_px`; ``tests/test_frcnn.py`` checks both the
encoding against the resized image and the decoding round trip). The decoded
keypoint is quantised to one pixel of the *resized* image, i.e. to
``1 / scale`` original px -- one reason to upscale (table below).

Profiles
--------
:func:`frcnn_config` gives two frozen, validated :class:`FRCNNConfig`\\ s.
``paper`` is torchvision's ``keypointrcnn_resnet50_fpn`` with its defaults,
except what must change for 24 x 25 images: the transform's size. By default
torchvision resizes the short side to a random one of 640 .. 800 px in training
and 800 px in evaluation -- a 32x upscale of a 24 px image to 768 x 800. We use
a fixed 8x upscale (``min_size=192``, ``max_size=400``: 192 x 200 px), which
puts the dot's box (about 13 .. 20 px, 104 .. 160 px upscaled) at the scale of
torchvision's default anchors (32 .. 512 px) and quantises the keypoint to
1/8 px, at 1/16 of the pixels. ``cpu`` is a set of documented reductions that
trains in about half an hour on a 2-core CPU shared with other jobs (one torch
thread: two were several times slower on the shared CPU):

=================================  ===============================  =======================================
setting                            ``paper`` (torchvision default)  ``cpu``
=================================  ===============================  =======================================
backbone                           ResNet-50, stages 1-4            ResNet-18, stages 1-3 (stage 4 dropped)
FPN maps (strides, upscaled px)    stages 1-4 + pool (4 .. 64)      stages 1-3 + pool (4 .. 32)
FPN channels                       256                              64
initial weights                    COCO (paper) or scratch          scratch (BatchNorm trained)
upscale (min_size / max_size)      8x (192 / 400); tv: 32x (800)    4x (96 / 100)
size_divisible (padding)           32                               16 (96 x 100 padded to 96 x 112)
anchor sizes (upscaled px)         32, 64, 128, 256, 512            40, 56, 80, 112 (boxes: 49 .. 79)
anchor aspect ratios               0.5, 1, 2                        0.5, 1, 2
RPN pre-NMS top-n train / test     2000 / 1000                      200 / 100
RPN post-NMS top-n train / test    2000 / 1000                      50 / 20
RPN anchors sampled per image      256                              64
RoIs sampled per image (box head)  512                              32
box head MLP width                 1024                             256
detections per image (evaluation)  100 (frcnn_locate keeps 1)       10 (frcnn_locate keeps 1)
keypoint head convs                8 x 512 channels                 3 x 64 channels
training images                    29,838 (all)                     6,000 (the first of ``train``)
validation images                  2,984 (all)                      500 (the first of ``val``)
epochs                             20                               4 (fewer if ``time_budget_s`` ends it)
torch threads                      (GPU)                            1 (set by the run command)
=================================  ===============================  =======================================

Both profiles keep the paper's optimiser (§4.3): SGD with learning rate
0.001, batch 6, validation batch 4, a constant learning rate (the paper
names no schedule); momentum 0.9 and weight decay 1e-4 are the values of
torchvision's detection reference recipe (the paper does not state them).

Model selection
---------------
After every epoch the model localises the validation images (the top-scoring
detection's keypoint, as :func:`frcnn_locate`), and the epoch with the highest
AUC at 140 nm (the paper's middle tolerance; :func:`qdloc.eval.metrics.auc_table`)
is kept -- the paper keeps "the model with the highest validation accuracy"
without naming the accuracy. Ties (an AUC that saturates at 1, as on easy
images) are broken by the AUC at 70 nm, then by the median error; a full tie
keeps the earlier epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from qdloc.data.dataset import draw_D, load_dataset, make_labels
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
from qdloc.localise.training import check_time_budget, restore_state, run_epochs
from qdloc.sim.params import SimParams, check_int
from qdloc.sim.simulate import BLOCK, simulate

__all__ = [
    "FRCNNConfig",
    "PROFILES",
    "frcnn_config",
    "build_frcnn",
    "load_coco_weights",
    "normalise_counts",
    "px_to_tv",
    "tv_to_px",
    "make_targets",
    "load_split",
    "train_frcnn",
    "frcnn_locate",
    "LOSS_KEYS",
    "VAL_METRIC",
]

#: The losses torchvision's Keypoint R-CNN returns in training mode.
LOSS_KEYS = ("loss_classifier", "loss_box_reg", "loss_keypoint", "loss_objectness", "loss_rpn_box_reg")

#: The model-selection score: column of history.csv (higher is better).
VAL_METRIC = "val_auc_140nm"

_BACKBONES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048}
_INITS = ("scratch", "coco")


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class FRCNNConfig:
    """Everything that defines the model and its training (validated on creation).

    Parameters
    ----------
    profile : str
        A name for the settings (``"paper"``, ``"cpu"`` or your own).
    backbone : str
        ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"`` (torchvision, no weights).
    returned_layers : tuple of int
        ResNet stages (1..4) feeding the FPN; stages after the last are dropped.
    fpn_channels : int
        FPN width (torchvision: 256).
    init : str
        ``"scratch"``: random weights, trainable BatchNorm, all layers trained
        (torchvision with ``weights=None, weights_backbone=None``);
        ``"coco"``: COCO weights loaded by :func:`train_frcnn` (``weights=PATH``),
        frozen BatchNorm (eps 0, as torchvision's ``COCO_V1``) and the first
        ResNet stages frozen (3 trainable layers, torchvision's default).
    min_size, max_size : int
        The transform's resize: scale = min(min_size / min(H, W), max_size / max(H, W)).
    size_divisible : int
        The batch is zero-padded to a multiple of this (torchvision: 32).
    anchor_sizes : tuple of int
        One anchor size (upscaled px) per FPN map, smallest stride first.
    aspect_ratios : tuple of float
        Anchor aspect ratios, the same on every map.
    rpn_pre_nms_top_n_train, rpn_pre_nms_top_n_test, rpn_post_nms_top_n_train, rpn_post_nms_top_n_test : int
        Region proposals kept before and after NMS (per FPN level before, per image after).
    rpn_batch_size_per_image : int
        Anchors sampled per image for the RPN losses.
    box_batch_size_per_image : int
        Proposals sampled per image for the box and keypoint heads.
    box_representation_size : int
        Width of the box head's two fully connected layers (torchvision: 1024).
    box_detections_per_img : int
        Detections kept per image in evaluation (:func:`frcnn_locate` keeps fewer).
    keypoint_layers : tuple of int
        Channels of the keypoint head's 3x3 convolutions (torchvision: 8 x 512).
    lr, momentum, weight_decay : float
        SGD settings (constant learning rate).
    batch_size, val_batch_size : int
        Training and validation batch sizes (paper: 6 and 4).
    epochs : int
        Training epochs (paper: 20).
    train_subset, val_subset : int or None
        Use only the first ``n`` images of ``train`` / ``val`` (None: all).
    min_box_px : float
        Boxes narrower than this (a trajectory mostly outside the image,
        clipped) are widened to it, inside the image.
    """

    profile: str = "paper"
    backbone: str = "resnet50"
    returned_layers: tuple[int, ...] = (1, 2, 3, 4)
    fpn_channels: int = 256
    init: str = "scratch"
    min_size: int = 192
    max_size: int = 400
    size_divisible: int = 32
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_pre_nms_top_n_train: int = 2000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_test: int = 1000
    rpn_batch_size_per_image: int = 256
    box_batch_size_per_image: int = 512
    box_representation_size: int = 1024
    box_detections_per_img: int = 100
    keypoint_layers: tuple[int, ...] = (512,) * 8
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 6
    val_batch_size: int = 4
    epochs: int = 20
    train_subset: int | None = None
    val_subset: int | None = None
    min_box_px: float = 1.0

    def __post_init__(self) -> None:
        _validate_config(self)

    @property
    def trainable_backbone_layers(self) -> int:
        """5 (all) from scratch, 3 from COCO weights: torchvision's rule."""
        return 5 if self.init == "scratch" else 3

    def scale(self, image_shape: Sequence[int]) -> float:
        """The transform's upscale factor for images of ``(H, W)``."""
        h, w = int(image_shape[0]), int(image_shape[1])
        return min(self.min_size / min(h, w), self.max_size / max(h, w))

    def replace(self, **changes) -> FRCNNConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict) -> FRCNNConfig:
        """Inverse of ``asdict`` (lists become tuples); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown FRCNNConfig field(s) {unknown}; expected a subset of {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _validate_config(c: FRCNNConfig) -> None:
    if not isinstance(c.profile, str) or not c.profile:
        raise ValueError(f"profile={c.profile!r} is not allowed: expected a non-empty name")
    if c.backbone not in _BACKBONES:
        raise ValueError(f"backbone={c.backbone!r} is not allowed: expected one of {sorted(_BACKBONES)}")
    if c.init not in _INITS:
        raise ValueError(f"init={c.init!r} is not allowed: expected one of {list(_INITS)}")
    if c.init == "coco" and (c.backbone != "resnet50" or tuple(c.returned_layers) != (1, 2, 3, 4)
                             or c.fpn_channels != 256 or tuple(c.keypoint_layers) != (512,) * 8
                             or c.box_representation_size != 1024 or len(c.aspect_ratios) != 3):
        raise ValueError(
            "init='coco' needs torchvision's keypointrcnn_resnet50_fpn architecture (resnet50, layers 1-4, "
            "256 FPN channels, 8 x 512 keypoint convolutions, 1024-wide box head, 3 aspect ratios); "
            f"profile {c.profile!r} differs: use the 'paper' profile"
        )
    layers = tuple(c.returned_layers)
    if (not layers or any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in layers)
            or list(layers) != sorted(set(layers)) or layers[0] < 1 or layers[-1] > 4):
        raise ValueError(f"returned_layers={c.returned_layers!r} is not allowed: expected increasing stages in 1..4")
    if len(c.anchor_sizes) != len(layers) + 1:
        raise ValueError(
            f"anchor_sizes={c.anchor_sizes!r} is not allowed: expected one size per FPN map, "
            f"{len(layers) + 1} (the {len(layers)} returned layers and the pool level)"
        )
    for name in ("fpn_channels", "min_size", "max_size", "size_divisible", "rpn_pre_nms_top_n_train",
                 "rpn_pre_nms_top_n_test", "rpn_post_nms_top_n_train", "rpn_post_nms_top_n_test",
                 "rpn_batch_size_per_image", "box_batch_size_per_image", "box_representation_size",
                 "box_detections_per_img", "batch_size", "val_batch_size", "epochs"):
        check_int(name, getattr(c, name), 1)
    for name in ("anchor_sizes", "keypoint_layers"):
        seq = tuple(getattr(c, name))
        if not seq:
            raise ValueError(f"{name}={seq!r} is not allowed: expected at least one positive integer")
        for v in seq:
            check_int(name, v, 1)
    if not c.aspect_ratios or any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                                  or v <= 0 for v in c.aspect_ratios):
        raise ValueError(f"aspect_ratios={c.aspect_ratios!r} is not allowed: expected positive numbers")
    for name, lo_ok in (("lr", False), ("momentum", True), ("weight_decay", True)):
        v = getattr(c, name)
        bad = isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
        if bad or v < 0 or (v == 0 and not lo_ok):
            raise ValueError(f"{name}={v!r} is not allowed: expected a finite number "
                             f"{'>= 0' if lo_ok else '> 0'}")
    if c.momentum >= 1:
        raise ValueError(f"momentum={c.momentum!r} is not allowed: expected a number in [0, 1)")
    for name in ("train_subset", "val_subset"):
        v = getattr(c, name)
        if v is not None:
            check_int(name, v, 1)
    if isinstance(c.min_box_px, bool) or not isinstance(c.min_box_px, int | float) or not c.min_box_px > 0:
        raise ValueError(f"min_box_px={c.min_box_px!r} is not allowed: expected a number > 0")
    # Store sequences as tuples so that the frozen object is hashable and asdict round-trips.
    for name in ("returned_layers", "anchor_sizes", "aspect_ratios", "keypoint_layers"):
        object.__setattr__(c, name, tuple(getattr(c, name)))


#: The two profiles (see the module docstring for the table of differences).
PROFILES: dict[str, FRCNNConfig] = {
    "paper": FRCNNConfig(),
    "cpu": FRCNNConfig(
        profile="cpu",
        backbone="resnet18",
        returned_layers=(1, 2, 3),
        fpn_channels=64,
        min_size=96,
        max_size=100,
        size_divisible=16,
        anchor_sizes=(40, 56, 80, 112),
        rpn_pre_nms_top_n_train=200,
        rpn_pre_nms_top_n_test=100,
        rpn_post_nms_top_n_train=50,
        rpn_post_nms_top_n_test=20,
        rpn_batch_size_per_image=64,
        box_batch_size_per_image=32,
        box_representation_size=256,
        box_detections_per_img=10,
        keypoint_layers=(64, 64, 64),
        epochs=4,
        train_subset=6000,
        val_subset=500,
    ),
}


def frcnn_config(profile: str | FRCNNConfig = "cpu", /, **overrides) -> FRCNNConfig:
    """The settings of a profile (``"paper"`` or ``"cpu"``), with some fields changed."""
    if isinstance(profile, FRCNNConfig):
        base = profile
    elif profile in PROFILES:
        base = PROFILES[profile]
    else:
        raise ValueError(f"profile={profile!r} is not allowed: expected one of {sorted(PROFILES)}")
    return base.replace(**overrides) if overrides else base


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------
def build_frcnn(config: FRCNNConfig):
    """A torchvision ``KeypointRCNN`` for 2 classes and 1 keypoint, with random weights.

    With ``config.init == "coco"`` the architecture is exactly torchvision's
    ``keypointrcnn_resnet50_fpn`` (frozen BatchNorm, 3 trainable stages), so
    that :func:`load_coco_weights` can fill it. Nothing is downloaded.
    """
    from torch import nn
    from torchvision.models import resnet
    from torchvision.models.detection import KeypointRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import TwoMLPHead
    from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads
    from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    if not isinstance(config, FRCNNConfig):
        raise ValueError(f"config={config!r} is not allowed: expected an FRCNNConfig")
    frozen = config.init == "coco"
    body = resnet.__dict__[config.backbone](weights=None, norm_layer=FrozenBatchNorm2d if frozen else nn.BatchNorm2d)
    # Freeze the first stages as torchvision's _resnet_fpn_extractor does.
    train = ["layer4", "layer3", "layer2", "layer1", "conv1"][: config.trainable_backbone_layers]
    if config.trainable_backbone_layers == 5:
        train.append("bn1")
    for name, p in body.named_parameters():
        if not any(name.startswith(t) for t in train):
            p.requires_grad_(False)
    layers = list(config.returned_layers)
    stage2 = _BACKBONES[config.backbone] // 8
    backbone = BackboneWithFPN(
        body,
        return_layers={f"layer{k}": str(v) for v, k in enumerate(layers)},
        in_channels_list=[stage2 * 2 ** (k - 1) for k in layers],
        out_channels=config.fpn_channels,
        extra_blocks=LastLevelMaxPool(),
    )
    names = [str(v) for v in range(len(layers))]
    anchors = AnchorGenerator(sizes=tuple((s,) for s in config.anchor_sizes),
                              aspect_ratios=(tuple(config.aspect_ratios),) * len(config.anchor_sizes))
    box_pool = MultiScaleRoIAlign(featmap_names=names, output_size=7, sampling_ratio=2)
    rep = config.box_representation_size
    model = KeypointRCNN(
        backbone,
        num_classes=None,  # given by box_predictor (2: background, dot)
        num_keypoints=None,  # given by keypoint_predictor (1)
        min_size=config.min_size,
        max_size=config.max_size,
        size_divisible=config.size_divisible,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=config.rpn_pre_nms_top_n_train,
        rpn_pre_nms_top_n_test=config.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_train=config.rpn_post_nms_top_n_train,
        rpn_post_nms_top_n_test=config.rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=config.rpn_batch_size_per_image,
        box_roi_pool=box_pool,
        box_head=TwoMLPHead(config.fpn_channels * 7 * 7, rep),
        box_predictor=_box_predictor(rep),
        box_batch_size_per_image=config.box_batch_size_per_image,
        box_detections_per_img=config.box_detections_per_img,
        keypoint_roi_pool=MultiScaleRoIAlign(featmap_names=names, output_size=14, sampling_ratio=2),
        keypoint_head=KeypointRCNNHeads(config.fpn_channels, tuple(config.keypoint_layers)),
        keypoint_predictor=_keypoint_predictor(config.keypoint_layers[-1]),
    )
    if frozen:  # torchvision's COCO_V1 weights are used with eps = 0 (overwrite_eps)
        for m in model.modules():
            if isinstance(m, FrozenBatchNorm2d):
                m.eps = 0.0
    return model


def _box_predictor(rep: int):
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    return FastRCNNPredictor(rep, 2)


def _keypoint_predictor(channels: int):
    from torchvision.models.detection.keypoint_rcnn import KeypointRCNNPredictor

    return KeypointRCNNPredictor(channels, 1)


_REPLACED = ("roi_heads.box_predictor.", "roi_heads.keypoint_predictor.")


def load_coco_weights(model, path) -> dict:
    """Fill ``model`` (built with ``init="coco"``) from torchvision's COCO checkpoint file.

    The file is the one torchvision would download for
    ``KeypointRCNN_ResNet50_FPN_Weights.COCO_V1`` (``keypointrcnn_resnet50_fpn_coco-fc266e95.pth``, a
    plain state dict); nothing is downloaded here. Every tensor is loaded except the box predictor
    (91 → 2 classes: COCO's person detector has 2 classes too, but "person" is not a dot) and the
    keypoint predictor (17 → 1 keypoint), which keep their random initialisation.

    Returns
    -------
    dict
        ``{"path", "sha256", "loaded", "replaced"}``: provenance for the model file.

    Raises
    ------
    ModelFileError
        When the file does not exist, cannot be read, or is not a Keypoint R-CNN ResNet-50-FPN state dict.
    """
    import torch

    path = Path(path)
    what = ("torchvision's keypointrcnn_resnet50_fpn COCO checkpoint (keypointrcnn_resnet50_fpn_coco-fc266e95.pth; "
            "nothing is downloaded: copy it here from a machine with network access)")
    if not path.is_file():
        raise ModelFileError(f"weights file {str(path)!r} does not exist; expected {what}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle means a corrupt or foreign file
        raise ModelFileError(f"weights file {str(path)!r} cannot be read ({type(exc).__name__}); "
                             f"expected {what}") from exc
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelFileError(f"weights file {str(path)!r} is not a state dict of tensors; expected {what}")
    own = model.state_dict()
    keep = {k: v for k, v in sd.items() if not k.startswith(_REPLACED)}
    missing = sorted(k for k in own if k not in keep and not k.startswith(_REPLACED))
    unexpected = sorted(k for k in keep if k not in own)
    wrong = sorted(k for k in keep if k in own and tuple(keep[k].shape) != tuple(own[k].shape))
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label} {keys[:3]}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
                           for label, keys in (("missing", missing), ("unexpected", unexpected),
                                               ("wrong shape", wrong)) if keys)
        raise ModelFileError(f"weights file {str(path)!r} does not fit keypointrcnn_resnet50_fpn: {detail}; "
                             f"expected {what}")
    model.load_state_dict(keep, strict=False)
    return {"path": str(path), "sha256": _sha256(path), "loaded": len(keep),
            "replaced": sorted(k for k in own if k.startswith(_REPLACED))}


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# --------------------------------------------------------------------------
# Inputs and targets
# --------------------------------------------------------------------------
def normalise_counts(images: np.ndarray):
    """Counts ``(n, H, W)`` → float32 tensor ``(n, 3, H, W)``, min-max scaled per image to [0, 1]."""
    import torch

    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"images of shape {x.shape} are not allowed: expected (n, H, W)")
    lo = x.min(axis=(1, 2), keepdims=True)
    span = x.max(axis=(1, 2), keepdims=True) - lo
    x = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
    return torch.from_numpy(x)[:, None].expand(-1, 3, -1, -1).contiguous()


def px_to_tv(xy_px):
    """qdloc px (pixel centres at integers) → torchvision's pixel-edge coordinates: ``+ 0.5``."""
    return xy_px + 0.5


def tv_to_px(xy_tv):
    """torchvision's pixel-edge coordinates → qdloc px: ``- 0.5``."""
    return xy_tv - 0.5


def _fix_boxes(boxes_px: np.ndarray, image_shape, min_w: float) -> np.ndarray:
    """Widen boxes narrower than ``min_w`` px, keeping them in the image (centre coordinates)."""
    b = np.array(boxes_px, dtype=np.float64, copy=True)
    H, W = image_shape
    for lo_i, hi_i, size in ((0, 2, W), (1, 3, H)):
        lo, hi = b[:, lo_i], b[:, hi_i]
        bad = (hi - lo) < min_w
        if np.any(bad):
            c = np.clip((lo[bad] + hi[bad]) / 2, -0.5 + min_w / 2, size - 0.5 - min_w / 2)
            lo[bad], hi[bad] = c - min_w / 2, c + min_w / 2
    return b


def make_targets(boxes_px: np.ndarray, xy_px: np.ndarray, image_shape, min_box_px: float = 1.0) -> list[dict]:
    """torchvision targets (one dot per image) from qdloc boxes and centroids in px.

    Parameters
    ----------
    boxes_px : (n, 4) array
        ``x0, y0, x1, y1`` in qdloc px (pixel centres at integers), e.g. ``bbox_*`` of ``labels.csv``.
    xy_px : (n, 2) array
        The keypoint (trajectory centroid) in qdloc px.
    image_shape : (H, W)
    min_box_px : float
        Narrower boxes are widened to this.

    Returns
    -------
    list of dict
        ``boxes`` (1, 4), ``labels`` (1,) = 1, ``keypoints`` (1, 1, 3) = ``(x, y, 1)``, in
        torchvision's pixel-edge coordinates.
    """
    import torch

    boxes = px_to_tv(_fix_boxes(np.asarray(boxes_px, dtype=np.float64), image_shape, min_box_px))
    kp = px_to_tv(np.asarray(xy_px, dtype=np.float64))
    out = []
    for b, k in zip(boxes, kp, strict=True):
        out.append({
            "boxes": torch.tensor(b[None], dtype=torch.float32),
            "labels": torch.ones(1, dtype=torch.int64),
            "keypoints": torch.tensor([[[k[0], k[1], 1.0]]], dtype=torch.float32),
        })
    return out


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Split:
    images: np.ndarray  # (n, H, W) uint16
    boxes_px: np.ndarray  # (n, 4)
    truth_xy: np.ndarray  # (n, 2)
    params: SimParams
    source: str


def load_split(name: str, data_dir=None, n: int | None = None, params: SimParams | None = None,
               progress: bool = False) -> _Split:
    """Images, boxes and centroids of one of the paper's sets (``train``, ``val``, ``test_D1`` ...).

    With ``data_dir`` the set is read with :func:`qdloc.data.dataset.load_dataset`
    from ``data_dir/name``. With ``data_dir=None`` the same images are simulated
    in memory from :data:`qdloc.data.presets.PAPER_PRESET` (size, seed, D) and
    ``params`` (default ``SimParams()`` now): the arrays are those that
    ``write_paper_sets`` would write with the same parameters.
    ``n`` keeps the first ``n`` images.
    """
    if name not in PAPER_PRESET:
        raise ValueError(f"set {name!r} is not allowed: expected one of {list(PAPER_PRESET)}")
    spec = PAPER_PRESET[name]
    if n is not None:
        check_int("n", n, 1)
        n = min(int(n), spec.n)
    if data_dir is not None:
        path = Path(data_dir) / name
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no such set; write it with qdloc.data.dataset.write_paper_sets, "
                                    "or pass data_dir=None to simulate the same images in memory")
        ds = load_dataset(path, mmap=True)
        k = len(ds) if n is None else min(n, len(ds))
        lab = ds.labels.iloc[:k]
        return _Split(
            images=np.asarray(ds.images[:k]),
            boxes_px=lab[["bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"]].to_numpy(np.float64),
            truth_xy=lab[["x_px", "y_px"]].to_numpy(np.float64),
            params=ds.params,
            source=str(path),
        )
    return _simulate_split(spec, n if n is not None else spec.n, params or SimParams(), progress)


def _simulate_split(spec, n: int, params: SimParams, progress: bool) -> _Split:
    images, boxes, xy = [], [], []
    chunk = 8 * BLOCK
    with tqdm(total=n, desc=f"simulate {spec.name}", disable=not progress, leave=False) as bar:
        for k in range(0, n, chunk):
            m = min(chunk, n - k)
            sim = simulate(m, params, seed=spec.seed, D=draw_D(spec.D, m, spec.seed, start=k), start=k)
            lab = make_labels(sim.trajectories, sim.centroids, sim.D, sim.index, params)
            images.append(sim.images)
            boxes.append(lab[["bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1"]].to_numpy(np.float64))
            xy.append(lab[["x_px", "y_px"]].to_numpy(np.float64))
            bar.update(m)
    return _Split(np.concatenate(images), np.concatenate(boxes), np.concatenate(xy), params,
                  f"simulated in memory: PAPER_PRESET[{spec.name!r}] (seed {spec.seed}, D {spec.D})")


# --------------------------------------------------------------------------
# Localisation
# --------------------------------------------------------------------------
def _predict(model, x, batch: int, device, max_per_image: int, min_score: float,
             progress: bool = False, desc: str = "locate") -> pd.DataFrame:
    """Top detections' keypoints of normalised images ``x`` (n, 3, H, W) → DataFrame in qdloc px."""
    import torch

    rh = model.roi_heads
    saved = (rh.detections_per_img, rh.score_thresh)
    rh.detections_per_img, rh.score_thresh = max_per_image, min_score
    model.eval()
    frames, xs, ys, scores = [], [], [], []
    try:
        with torch.inference_mode():
            for s in tqdm(range(0, x.shape[0], batch), desc=desc, disable=not progress, leave=False):
                out = model([im.to(device) for im in x[s : s + batch]])
                for i, o in enumerate(out):
                    sc = o["scores"].cpu().numpy()
                    kp = o["keypoints"].cpu().numpy()
                    order = np.argsort(-sc, kind="stable")[:max_per_image]
                    for j in order:
                        frames.append(s + i)
                        xs.append(float(tv_to_px(kp[j, 0, 0])))
                        ys.append(float(tv_to_px(kp[j, 0, 1])))
                        scores.append(float(sc[j]))
    finally:
        rh.detections_per_img, rh.score_thresh = saved
    return pd.DataFrame({"frame": np.asarray(frames, dtype=np.int64), "x": np.asarray(xs, dtype=np.float64),
                         "y": np.asarray(ys, dtype=np.float64), "score": np.asarray(scores, dtype=np.float64)})


def _device(device) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def load_frcnn(model_path, image_shape=None, device=None):
    """The model of a model file (checked by :func:`qdloc.localise.checkpoints.load_model_file`), in eval mode."""
    obj = load_model_file(model_path, kind="frcnn", image_shape=image_shape)
    try:
        config = FRCNNConfig.from_dict(obj["config"])
        model = build_frcnn(config)
        model.load_state_dict(obj["state_dict"])
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise ModelFileError(f"model file {str(model_path)!r} holds a config or weights that do not build "
                             f"a Keypoint R-CNN: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    return model.to(_device(device)).eval(), config, obj


def frcnn_locate(images, model_path, batch: int = 64, device=None, max_per_image: int = 1,
                 min_score: float = 0.0, progress: bool = False) -> pd.DataFrame:
    """Localise the dot in each image with a trained Keypoint R-CNN.

    Parameters
    ----------
    images : array (n, H, W)
        Photon counts (any real dtype); ``(H, W)`` must be the model's image shape.
    model_path : path
        A model file written by :func:`train_frcnn` (``best.pt``).
    batch : int
        Images per forward pass.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    max_per_image : int
        Detections kept per image, best first (default 1).
    min_score : float
        Detections scored below this are dropped (default 0: every image
        that has any detection gets its best one).

    Returns
    -------
    DataFrame
        ``frame, x, y, score``: ``frame`` the image index, ``(x, y)`` the
        detection's keypoint in qdloc px (x = column, y = row, pixel centres
        at integers), ``score`` the detection's class probability.

    Notes
    -----
    Every image holds exactly one dot (§4.1), and the metric (§4.8) counts
    every extra detection as a false positive, which enters the
    precision-recall ranking at its own score and can lower the precision of
    other images' true positives. So by default only the top-scoring
    detection of each image is kept, and the score threshold is 0 rather than
    torchvision's 0.05: a low-scored prediction ranks after all others and
    can only add to the area under the curve.

    Raises
    ------
    ModelFileError
        When the file is missing, corrupt, not a qdloc model file, not an
        ``frcnn`` model, or made for another image size.
    """
    arr = np.asarray(images)
    if arr.ndim != 3:
        raise ValueError(f"images of shape {arr.shape} are not allowed: expected (n, H, W)")
    check_int("batch", batch, 1)
    check_int("max_per_image", max_per_image, 1)
    dev = _device(device)
    model, _, _ = load_frcnn(model_path, image_shape=arr.shape[1:], device=dev)
    if arr.shape[0] == 0:
        return pd.DataFrame({"frame": np.zeros(0, np.int64), "x": np.zeros(0), "y": np.zeros(0),
                             "score": np.zeros(0)})
    return _predict(model, normalise_counts(arr), batch, dev, max_per_image, float(min_score), progress)


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------
def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The training order of epoch ``epoch`` (1-based): depends only on ``(seed, epoch)``."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(epoch)])))
    return rng.permutation(n)


def _validate(model, x_val, truth_xy, config: FRCNNConfig, device) -> dict:
    pred = _predict(model, x_val, config.val_batch_size, device, max_per_image=1, min_score=0.0)
    aucs = auc_table(pred, truth_xy)
    err = np.full(len(truth_xy), np.inf)
    if len(pred):
        fr = pred["frame"].to_numpy()
        err[fr] = np.hypot(pred["x"].to_numpy() - truth_xy[fr, 0], pred["y"].to_numpy() - truth_xy[fr, 1])
    return {"val_auc_70nm": aucs[70.0], "val_auc_140nm": aucs[140.0], "val_auc_210nm": aucs[210.0],
            "val_median_err_px": float(np.median(err)), "val_detected": float(np.mean(np.isfinite(err)))}


def _selection_key(row: dict) -> tuple[float, float, float]:
    """Model selection: AUC at 140 nm; ties (a saturated AUC) broken by AUC at 70 nm, then median error."""
    return (row["val_auc_140nm"], row["val_auc_70nm"], -row["val_median_err_px"])


def _better(row: dict, best_row: dict | None) -> bool:
    """Model selection (:func:`_selection_key`): the first epoch, then any that beats the best."""
    return best_row is None or _selection_key(row) > _selection_key(best_row)


def _run_config(profile: str | FRCNNConfig, epochs: int | None, subset: int | None,
                weights) -> FRCNNConfig:
    """The profile's configuration with the arguments of :func:`train_frcnn` applied."""
    config = frcnn_config(profile)
    if epochs is not None:
        check_int("epochs", epochs, 1)
        config = config.replace(epochs=int(epochs))
    if subset is not None:
        check_int("subset", subset, 1)
        config = config.replace(train_subset=int(subset))
    if weights is not None:
        config = config.replace(init="coco")  # raises for a profile that is not resnet50-FPN
        if not Path(weights).is_file():
            raise ModelFileError(f"weights file {str(weights)!r} does not exist; expected "
                                 "torchvision's keypointrcnn_resnet50_fpn COCO checkpoint "
                                 "(nothing is downloaded)")
    return config


def _resume_state(ckpt: Checkpointer, resume: bool, config: FRCNNConfig, seed: int) -> dict | None:
    """The checkpoint in ``ckpt`` (checked against the run's settings), or None if none."""
    state = ckpt.load()
    if state is not None and not resume:
        raise FileExistsError(f"{ckpt.last} exists: pass resume=True to continue it, "
                              "or use another out_dir")
    if state is not None:
        saved = {k: (tuple(v) if isinstance(v, list) else v) for k, v in state["config"].items()}
        differs = sorted(k for k in saved if k != "epochs" and saved[k] != getattr(config, k))
        if differs or state["seed"] != seed:
            raise ValueError(f"cannot resume {ckpt.last}: it was made with other settings "
                             f"({', '.join(differs) or 'seed'} differ)")
    return state


class _FRCNNRun:
    """Keypoint R-CNN's steps of the shared epoch loop (:func:`qdloc.localise.training.run_epochs`).

    Building it reads or simulates the data, seeds torch, builds the model and restores ``state``.
    """

    def __init__(self, config: FRCNNConfig, seed: int, data_dir, weights, state: dict | None,
                 ckpt: Checkpointer, progress: bool) -> None:
        import torch  # with torchvision, imported only where a model is built

        self.config, self.seed, self.ckpt, self.progress = config, seed, ckpt, progress
        self.device = _device(None)
        train = load_split("train", data_dir, config.train_subset, progress=progress)
        val = load_split("val", data_dir, config.val_subset, params=train.params, progress=progress)
        if val.params != train.params:
            raise ValueError(f"train and val sets were made with different SimParams: "
                             f"{train.params} vs {val.params}")
        self.sim_params, self.val_truth = train.params, val.truth_xy
        self.image_shape = train.images.shape[1:]
        self.x_train = normalise_counts(train.images)
        self.targets = make_targets(train.boxes_px, train.truth_xy, self.image_shape,
                                    config.min_box_px)
        self.x_val = normalise_counts(val.images)
        seed_everything(seed)
        self.model = build_frcnn(config)
        coco = load_coco_weights(self.model, weights) if weights is not None else None
        self.model.to(self.device)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                   weight_decay=config.weight_decay)
        self.history: list[dict] = []
        self.best_epoch = 0
        if state is not None:
            self.history = restore_state(state, self.model, self.opt)
            self.best_epoch = state["best_epoch"]
            coco = state.get("coco")
        self.coco = coco
        self.meta = self._meta(train, val)

    def _meta(self, train: _Split, val: _Split) -> dict:
        """Provenance of every model file of the run."""
        import torch
        import torchvision

        coco = self.coco
        return {
            "init": self.config.init,
            "weights_file": None if coco is None else coco["path"],
            "weights_sha256": None if coco is None else coco["sha256"],
            "seed": int(self.seed),
            "device": self.device,
            "data": train.source,
            "n_train": int(len(train.images)),
            "n_val": int(len(val.images)),
            "val_metric": f"{VAL_METRIC}: AUC of the precision-recall curve at 140 nm, "
                          "top-scoring detection per image",
            "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__),
        }

    @property
    def best_score(self) -> float:
        """:data:`VAL_METRIC` of the best epoch (-inf before the first)."""
        return self.history[self.best_epoch - 1][VAL_METRIC] if self.best_epoch else -math.inf

    def _steps(self, epoch: int) -> dict:
        """One pass over the training images in the epoch's order; the summed losses."""
        import torch

        n, bs = len(self.x_train), self.config.batch_size
        order = _epoch_order(self.seed, epoch, n)
        sums = dict.fromkeys(LOSS_KEYS, 0.0)
        bar = tqdm(range(0, n, bs), desc=f"epoch {epoch}/{self.config.epochs}",
                   disable=not self.progress, leave=False)
        for s in bar:
            idx = order[s : s + bs]
            ims = [self.x_train[i].to(self.device) for i in idx]
            tg = [{k: v.to(self.device) for k, v in self.targets[i].items()} for i in idx]
            losses = self.model(ims, tg)
            loss = sum(losses.values())
            if not torch.isfinite(loss.detach()):
                parts = {k: v.detach().item() for k, v in losses.items()}
                raise FloatingPointError(f"epoch {epoch}, batch at {s}: the loss is "
                                         f"{loss.detach().item()} ({parts})")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            vals = {k: losses[k].detach().item() for k in LOSS_KEYS}
            for k in LOSS_KEYS:
                sums[k] += vals[k] * len(idx)
            bar.set_postfix(loss=f"{sum(vals.values()):.3f}", kp=f"{vals['loss_keypoint']:.3f}")
        bar.close()
        return sums

    def run_epoch(self, epoch: int) -> dict:
        """Train and validate epoch ``epoch`` (from 1); its history row."""
        n = len(self.x_train)
        t0 = time.perf_counter()
        self.model.train()
        sums = self._steps(epoch)
        t_train = time.perf_counter() - t0
        t1 = time.perf_counter()
        val_scores = _validate(self.model, self.x_val, self.val_truth, self.config, self.device)
        t_val = time.perf_counter() - t1
        row = {"epoch": epoch, **{k: sums[k] / n for k in LOSS_KEYS}}
        row["loss_total"] = sum(row[k] for k in LOSS_KEYS)
        row.update(val_scores)
        row.update({"epoch_time_s": round(t_train, 2), "val_time_s": round(t_val, 2), "n_train": n,
                    "lr": self.config.lr})
        return row

    def save_best(self, epoch: int, row: dict) -> None:
        save_model_file(self.ckpt.best, kind="frcnn", config=asdict(self.config),
                        state_dict=self.model.state_dict(), image_shape=self.image_shape,
                        sim_params=self.sim_params.to_dict(),
                        meta={**self.meta, "epoch": epoch, VAL_METRIC: float(row[VAL_METRIC])})

    def end_epoch(self, row: dict, best_epoch: int) -> None:
        self.best_epoch = best_epoch
        self.ckpt.save({"epoch": row["epoch"], "model": self.model.state_dict(),
                        "optimizer": self.opt.state_dict(), "rng": rng_state(),
                        "history": self.history, "best_epoch": best_epoch,
                        "best_score": self.best_score, "config": asdict(self.config),
                        "seed": int(self.seed), "coco": self.coco})
        if self.progress:
            tqdm.write(f"epoch {row['epoch']}: loss {row['loss_total']:.4f} "
                       f"(keypoint {row['loss_keypoint']:.4f}), val AUC 70/140/210 nm "
                       f"{row['val_auc_70nm']:.3f}/{row['val_auc_140nm']:.3f}/"
                       f"{row['val_auc_210nm']:.3f}, "
                       f"median error {row['val_median_err_px']:.3f} px, "

                       f"{row['epoch_time_s']:.0f} s + {row['val_time_s']:.0f} s")


def train_frcnn(data_dir, out_dir, profile: str | FRCNNConfig = "cpu", seed: int = 0,
                resume: bool = False, progress: bool = True, epochs: int | None = None,
                weights=None, subset: int | None = None,
                time_budget_s: float | None = None) -> dict:
    """Train Keypoint R-CNN on the paper's ``train`` set, selecting the epoch on ``val``.

    Parameters
    ----------
    data_dir : path or None
        Folder holding the sets ``train`` and ``val`` (:func:`qdloc.data.dataset.write_paper_sets`);
        None simulates the same images in memory with ``SimParams()`` (:func:`load_split`).
    out_dir : path
        Checkpoint folder (:class:`qdloc.localise.checkpoints.Checkpointer`): ``last.pt``,
        ``best.pt``, ``history.csv``.
    profile : str or FRCNNConfig
        ``"cpu"`` or ``"paper"`` (:data:`PROFILES`), or a config.
    seed : int
        Seeds the initial weights, the RoI sampling and the epoch order (epoch ``e`` visits
        the images in an order that depends only on ``(seed, e)``).
    resume : bool
        Continue from ``out_dir/last.pt``: the weights, the optimiser, the RNG states and the
        history are restored, so that the result is the one of an uninterrupted run. Without
        ``resume``, an ``out_dir`` that already holds a checkpoint is an error.
    progress : bool
        tqdm bars.
    epochs : int, optional
        Total epochs (default: the profile's). With ``resume``, a larger number continues training.
    weights : path, optional
        torchvision's ``keypointrcnn_resnet50_fpn`` COCO checkpoint (the paper's starting point);
        sets ``init="coco"`` (paper profile only). None trains from scratch.
    subset : int, optional
        Use the first ``subset`` training images (default: the profile's ``train_subset``).
    time_budget_s : float, optional
        Start no new epoch when the elapsed time of this call plus the longest epoch so far would
        exceed it.

    Returns
    -------
    dict
        ``best`` (path of the model file), ``best_epoch``, ``best_score`` (``val_auc_140nm``),
        ``history`` (list of dicts, one per epoch), ``config``, ``stopped`` (``"done"`` or
        ``"time budget"``).
    """
    t_call = time.perf_counter()
    config = _run_config(profile, epochs, subset, weights)
    seed = check_int("seed", seed)
    check_time_budget(time_budget_s)
    ckpt = Checkpointer(out_dir)
    state = _resume_state(ckpt, resume, config, seed)
    run = _FRCNNRun(config, seed, data_dir, weights, state, ckpt, progress)

    def over_budget(history: list[dict]) -> bool:
        # the elapsed time of this call plus the longest of the last three epochs
        spent = time.perf_counter() - t_call
        longest = max([h["epoch_time_s"] + h["val_time_s"] for h in history[-3:]], default=0.0)
        return time_budget_s is not None and bool(history) and spent + longest > time_budget_s

    best_epoch, stopped = run_epochs(run.history, config.epochs, run.run_epoch, _better,
                                     run.save_best, run.end_epoch, run.best_epoch, over_budget)
    return {"best": ckpt.best, "best_epoch": best_epoch, "best_score": run.best_score,
            "history": run.history, "config": config,
            "stopped": "time budget" if stopped else "done"}



# --------------------------------------------------------------------------
# Command line: train, then localise the three test sets
