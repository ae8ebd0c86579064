"""Shared training plumbing: model files, checkpoints, resume, training curves.

A *model file* is a ``torch.save`` dictionary with

* ``format``: ``"qdloc-model"`` and ``format_version``: 1;
* ``kind``: ``"compact"`` or ``"frcnn"``; ``config``: the model's own settings (a dict);
* ``image_shape``: ``[H, W]`` the model was trained for; ``sim_params``: the SimParams dict;
* ``state_dict``: the weights; ``meta``: free-form provenance (command, epochs, seed, qdloc
  version).

:func:`load_model_file` checks all of it and raises :class:`ModelFileError` (a
``ValueError``) naming the file and what is wrong: missing, not a model file,
corrupt, another kind, another image size.

A *checkpoint folder* holds ``last.pt`` (everything needed to resume: model,
optimiser and scheduler state, RNG states, epoch, history), ``best.pt`` (a
model file of the epoch with the best validation score) and ``history.csv``.
Every file is written atomically, so an interrupted run resumes from the last
complete epoch.
"""

from __future__ import annotations

import csv
import io
import random
import warnings
import zipfile
from pathlib import Path

import numpy as np

from qdloc.io import atomic_write_bytes, atomic_write_text

__all__ = [
    "ModelFileError",
    "save_model_file",
    "load_model_file",
    "Checkpointer",
    "rng_state",
    "set_rng_state",
    "seed_everything",
]

FORMAT = "qdloc-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, corrupt, or not for this use."""


def _torch():
    import torch

    return torch


def _to_bytes(obj) -> bytes:
    buf = io.BytesIO()
    _torch().save(obj, buf)
    return buf.getvalue()


def save_model_file(path, kind: str, config: dict, state_dict: dict, image_shape, sim_params: dict,
                    meta: dict | None = None) -> Path:
    """Write a model file atomically (see the module docstring)."""
    obj = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": dict(config),
        "image_shape": [int(image_shape[0]), int(image_shape[1])],
        "sim_params": dict(sim_params),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "meta": dict(meta or {}),
    }
    return atomic_write_bytes(path, _to_bytes(obj))


_EXPECTED = "expected a model file written by qdloc train (or one of data/models/)"


def _read_model_object(path: Path):
    """``torch.load`` of a file that may not be trusted, with one plain error if it fails.

    Only tensors and plain containers are unpickled (``weights_only=True``). torch's own
    message is not passed on: it advises reloading with ``weights_only=False``, which runs
    arbitrary code from the file, advice a user must never follow for an untrusted file.
    """
    torch = _torch()
    try:
        with warnings.catch_warnings():  # torch's note on a pickle protocol it did not write
            warnings.filterwarnings("ignore", message="Detected pickle protocol",
                                    category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any failure to unpickle means a foreign or corrupt file
        why = ("torch cannot read it as tensors and plain values" if zipfile.is_zipfile(path)
               else "it is not a complete torch.save archive")  # torch writes zip since 1.6
        raise ModelFileError(f"model file {str(path)!r} is not a qdloc model file, or is "
                             f"truncated or corrupt: {why}; {_EXPECTED}") from None


def load_model_file(path, kind: str | None = None, image_shape=None) -> dict:
    """Read and check a model file; return its dictionary.

    Raises
    ------
    ModelFileError
        When the file is missing, unreadable, not a qdloc model file, of another
        ``kind``, or trained for another ``image_shape``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    obj = _read_model_object(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ModelFileError(f"model file {str(path)!r} is not a qdloc model file: it holds a "
                             f"{type(obj).__name__} without format {FORMAT!r}; {_EXPECTED}")
    name = str(path)
    if obj.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"model file {name!r} has format_version "
                             f"{obj.get('format_version')!r}; expected {FORMAT_VERSION}")
    if kind is not None and obj.get("kind") != kind:
        raise ModelFileError(f"model file {name!r} holds a {obj.get('kind')!r} model; "
                             f"expected {kind!r}")
    shape = list(obj.get("image_shape", []))
    if image_shape is not None and shape != [int(image_shape[0]), int(image_shape[1])]:
        raise ModelFileError(f"model file {name!r} was trained for images of shape "
                             f"{tuple(shape)}; the images have shape {tuple(image_shape)}")
    return obj


def rng_state() -> dict:
    torch = _torch()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy_legacy": np.random.get_state()}  # noqa: NPY002 - saved so a resume is exact


def set_rng_state(state: dict) -> None:
    torch = _torch()
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy_legacy"])  # noqa: NPY002 - restores what rng_state saved


def seed_everything(seed: int) -> None:
    """Seed torch (and Python's and NumPy's legacy generators, which some libraries use)."""
    torch = _torch()
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - legacy state some torchvision code reads


class Checkpointer:
    """Checkpoints, best model and training curves in one folder."""

    def __init__(self, out_dir) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def last(self) -> Path:
        return self.dir / "last.pt"

    @property
    def best(self) -> Path:
        return self.dir / "best.pt"

    @property
    def history_csv(self) -> Path:
        return self.dir / "history.csv"

    def save(self, state: dict) -> None:
        """Write the resume state (must contain ``epoch`` and ``history``) atomically."""
        atomic_write_bytes(self.last, _to_bytes(state))
        self.write_history(state["history"])

    def load(self) -> dict | None:
        """The resume state, or None when there is none."""
        if not self.last.exists():
            return None
        try:
            return _torch().load(self.last, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001
            raise ModelFileError(
                f"checkpoint {str(self.last)!r} is corrupt: {type(exc).__name__}"
            ) from exc

    def write_history(self, history: list[dict]) -> None:
        if not history:
            return
        keys = list(history[0])
        for h in history[1:]:
            keys += [k for k in h if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        for h in history:
            w.writerow(h)
        atomic_write_text(self.history_csv, buf.getvalue())
