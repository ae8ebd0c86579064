"""Chapter 07's detector study: single-frame AUC with a photomultiplier's excess noise and a
bidirectional scan (:class:`qdloc.sim.params.SimParams` ``pmt_excess_noise``, ``bidirectional``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from qdloc.eval.metrics import PAPER_EPS_NM, auc_table
from qdloc.localise.registry import locate
from qdloc.sim.params import SimParams
from qdloc.sim.simulate import simulate

__all__ = ["detector_study", "detector_summary", "detector_auc", "detector_effects", "describe_detector_effects"]


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
        One row per (excess_noise, bidirectional, localiser): ``auc_70``, ``auc_140``,
        ``auc_210``.
    """
    base = params or SimParams()
    rows = []
    for bidi in bidirectional:
        for F in excess_noise:
            p = base.replace(pmt_excess_noise=float(F), bidirectional=bool(bidi))
            sim = simulate(n_images, p, seed=seed, D=D_um2_per_s)
            for name, (method, model) in localisers.items():
                pred = locate(sim.images, method, model)
                auc = auc_table(pred, sim.centroids, eps_nm,
                                pixel_size_nm=p.pixel_size_um * 1000)
                row = {"excess_noise": float(F), "bidirectional": bool(bidi), "localiser": name}
                row.update({f"auc_{e:g}": round(float(v), 4) for e, v in auc.items()})
                rows.append(row)
    return pd.DataFrame(rows)


def detector_summary(table: pd.DataFrame, eps_nm: float = 140.0) -> pd.DataFrame:
    """AUC at ``eps_nm`` as a (localiser x condition) table, for printing.

    Parameters
    ----------
    table : DataFrame
        :func:`detector_study`'s.
    eps_nm : float
        The tolerance (a column ``auc_<eps_nm>`` of the table).

    Returns
    -------
    DataFrame
        Rows: localisers; columns: conditions (``"F=1.5"``, ``"F=1, bidirectional"``), in
        the table's order.
    """
    col = f"auc_{eps_nm:g}"
    t = table.copy()
    t["condition"] = [f"F={F:g}" + (", bidirectional" if b else "")
                      for F, b in zip(t["excess_noise"], t["bidirectional"], strict=True)]
    order = list(dict.fromkeys(t["condition"]))
    out = t.pivot(index="localiser", columns="condition", values=col)[order]
    return out.loc[list(dict.fromkeys(t["localiser"]))]


def detector_auc(table: pd.DataFrame, localiser: str, excess_noise: float,
                 bidirectional: bool = False, eps_nm: float = 140.0) -> float:
    """One cell of :func:`detector_study`'s table: a localiser's AUC in one condition.

    Raises
    ------
    ValueError
        When the table has no row for that localiser and condition.
    """
    col = f"auc_{eps_nm:g}"
    row = table[(table["localiser"] == localiser) & (table["excess_noise"] == excess_noise)
                & (table["bidirectional"] == bidirectional)]
    if row.empty or col not in row:
        raise ValueError(f"no {col} for localiser={localiser!r}, excess_noise={excess_noise!r}, "
                         f"bidirectional={bidirectional!r}: expected one of the table's rows")
    return float(row[col].iloc[0])


def detector_effects(table: pd.DataFrame, excess_noise: float, trackpy: str = "TrackPy",
                     compact: str = "Compact", retrained: str = "Compact trained with F=1.5",
                     eps_nm: float = 140.0) -> dict[str, float]:
    """What a PMT and a bidirectional scan cost each localiser, and what retraining gives back.

    Parameters
    ----------
    table : DataFrame
        :func:`detector_study`'s, with the condition ``F = 1`` (pure Poisson counts).
    excess_noise : float
        The PMT's excess noise factor ``F`` compared with ``F = 1``.
    trackpy, compact, retrained : str
        The localisers' names in the table.

    Returns
    -------
    dict
        ``drop_trackpy``, ``drop_compact``: AUC at ``F = 1`` minus AUC at ``F``;
        ``retrained_gain``: the retrained compact's AUC minus the compact's, at ``F``;
        ``bidirectional_trackpy``, ``bidirectional_compact``: bidirectional minus unidirectional
        scan at ``F = 1``.
    """
    def auc(name: str, F: float, bidi: bool = False) -> float:
        return detector_auc(table, name, F, bidi, eps_nm)

    return {"drop_trackpy": auc(trackpy, 1.0) - auc(trackpy, excess_noise),
            "drop_compact": auc(compact, 1.0) - auc(compact, excess_noise),
            "retrained_gain": auc(retrained, excess_noise) - auc(compact, excess_noise),
            "bidirectional_trackpy": auc(trackpy, 1.0, True) - auc(trackpy, 1.0),
            "bidirectional_compact": auc(compact, 1.0, True) - auc(compact, 1.0)}


def describe_detector_effects(effects: Mapping[str, float], excess_noise: float) -> str:
    """:func:`detector_effects` in two lines of words.

    Parameters
    ----------
    effects : mapping
        :func:`detector_effects`'s output.
    excess_noise : float
        The ``F`` it was computed at.

    Returns
    -------
    str
    """
    e = effects
    return (f"F = {excess_noise}: AUC@140 drops by {e['drop_trackpy']:.3f} (TrackPy) and "
            f"{e['drop_compact']:.3f} (compact); training with the PMT model changes the compact's "
            f"by {e['retrained_gain']:+.3f}\n"
            f"bidirectional scan, F = 1: TrackPy {e['bidirectional_trackpy']:+.3f}, "
            f"compact {e['bidirectional_compact']:+.3f}")
