"""Chapter 07's detector study: single-frame AUC with a photomultiplier's excess noise and a
bidirectional scan (:class:`qdloc.SimParams` ``pmt_excess_noise``, ``bidirectional``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from qdloc.eval.metrics import PAPER_EPS_NM, auc_table
from qdloc.localise.registry import locate
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import simulate

__all__ = ["detector_study", "detector_summary"]


def detector_study(
    localisers: Mapping[str, tuple[str, str | Path | None]],
    excess_noise: Sequence[float] = (1.0, 1.25, 1.5, 2.0),
    bidirectional: Sequence[bool] = (False, True),
    n_images: int = 1000,
    D_um2_per_s: float = 1.0,
    seed: int = 40,
    params: SimParams | None = None,
    eps_nm: Sequence[float] = PAPER_EPS_NM,
) -> pd.DataFrame:
    """AUC of each localiser on images recorded with a PMT model and/or a bidirectional scan.

    Every condition uses the same seed, so the dots' walks and photon counts
    are the same in every row: only the detector (gains) and the scan order
    differ.

    Parameters
    ----------
    localisers : mapping name -> (method, model_path or None)
        E.g. ``{"TrackPy": ("trackpy", None), "Compact": ("compact", None),
        "Compact, trained with F=1.5": ("compact", "data/models/compact_pmt/compact.pt")}``.
    excess_noise : floats >= 1
        PMT excess noise factors ``F`` (1: pure Poisson counts, the paper's model).
    bidirectional : bools
    n_images, D_um2_per_s, seed : test images of each condition
    params : SimParams, optional
        The other simulator parameters (default ``SimParams()``).

    Returns
    -------
    DataFrame
        One row per (excess_noise, bidirectional, localiser): ``auc_70``, ``auc_140``, ``auc_210``.
    """
    base = params or SimParams()
    rows = []
    for bidi in bidirectional:
        for F in excess_noise:
            p = base.replace(pmt_excess_noise=float(F), bidirectional=bool(bidi))
            sim = simulate(n_images, p, seed=seed, D=D_um2_per_s)
            for name, (method, model) in localisers.items():
                pred = locate(sim.images, method, model)
                auc = auc_table(pred, sim.centroids, eps_nm, pixel_size_nm=p.pixel_size_um * 1000)
                row = {"excess_noise": float(F), "bidirectional": bool(bidi), "localiser": name}
                row.update({f"auc_{e:g}": round(float(v), 4) for e, v in auc.items()})
                rows.append(row)
    return pd.DataFrame(rows)


def detector_summary(table: pd.DataFrame, eps_nm: float = 140.0) -> pd.DataFrame:
    """AUC at ``eps_nm`` as a (localiser x condition) table, for printing."""
    col = f"auc_{eps_nm:g}"
    t = table.copy()
    t["condition"] = [
        f"F={F:g}" + (", bidirectional" if b else "") for F, b in zip(t["excess_noise"], t["bidirectional"], strict=True)
    ]
    order = list(dict.fromkeys(t["condition"]))
    out = t.pivot(index="localiser", columns="condition", values=col)[order]
    return out.loc[list(dict.fromkeys(t["localiser"]))]
