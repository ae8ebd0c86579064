"""Model files (qdloc.localise.checkpoints.load_model_file): foreign and damaged files refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from qdloc.localise.checkpoints import ModelFileError, load_model_file
from qdloc.localise.registry import shipped_model


class _Touch:
    """A pickle that, if loaded without ``weights_only``, creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_the_shipped_model_file_loads():
    obj = load_model_file(shipped_model("compact"), kind="compact")
    assert obj["format"] == "qdloc-model" and obj["kind"] == "compact"


@pytest.mark.parametrize("what", ["random", "half", "one_byte_short", "pickle", "malicious"])
def test_damaged_or_foreign_files_are_refused_in_one_plain_line(tmp_path, what):
    real = shipped_model("compact").read_bytes()
    data = {
        "random": np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "half": real[: len(real) // 2],
        "one_byte_short": real[:-1],
        "pickle": pickle.dumps({"weights": [1.0, 2.0]}),
        "malicious": pickle.dumps(_Touch(tmp_path / "pwned")),
    }[what]
    bad = tmp_path / f"{what}.pt"
    bad.write_bytes(data)
    with pytest.raises(ModelFileError) as info:
        load_model_file(bad, kind="compact")
    msg = str(info.value)
    assert msg.startswith(f"model file {str(bad)!r} is not a qdloc model file, or is truncated")
    assert "\n" not in msg and "weights_only" not in msg
    assert "expected a model file written by qdloc train" in msg
    assert not (tmp_path / "pwned").exists()


def test_a_torch_file_of_something_else_is_named_as_such(tmp_path):
    bad = tmp_path / "state.pt"
    torch.save({"conv.weight": torch.zeros(2, 2)}, bad)  # a bare state_dict, no qdloc header
    with pytest.raises(ModelFileError, match=r"state\.pt' is not a qdloc model file: it holds a "
                       r"dict without format 'qdloc-model'"):
        load_model_file(bad)
