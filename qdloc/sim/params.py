"""One parameters object for the whole simulator, validated in one place.

Every quantity carries its unit in its name. The defaults are the paper's
(§4.1, §4.6) where the paper gives a value; the others (``n_qd``, the start
distribution) are documented choices, calibrated in chapter 06 against the
paper's TrackPy row of Table 1 (``qdloc.study.calibration``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

from numpy import bool_ as np_bool, integer as np_integer

from qdloc.io import atomic_write_text

__all__ = ["SimParams", "PAPER", "check_int", "check_value"]

#: Largest expected count per pixel we allow, so that counts fit in uint16
#: with a safety margin of many standard deviations.
MAX_EXPECTED_COUNT = 20000.0


@dataclass(frozen=True)
class SimParams:
    """Parameters of the two-photon microscope simulator.

    Parameters
    ----------
    height_px, width_px : int
        Image size: ``height_px`` scan lines of ``width_px`` pixels (paper: 24 x 25).
    pixel_size_um : float
        Pixel pitch ``a`` in µm (paper: 0.07). Pixel (row i, column j) is
        scanned with the beam at x = j·a, y = i·a, z = 0.
    dwell_s : float
        Time the beam dwells on one pixel, in s (paper: 2 µs).
    retrace_s : float
        Time the beam takes to return to the start of the next line, in s
        (paper: 1.1 ms). No photons are recorded during the retrace.
    D_um2_per_s : float
        Diffusion coefficient in µm²/s, used when ``simulate`` is not given one.
    sigma_xy_um, sigma_z_um : float
        Standard deviations of the 3D Gaussian PSF (paper: 0.21 µm, 1.36 µm).
    n_qd : float
        ``N_qd`` of Eq. 1: photons from a quantum dot in the focal plane, in
        the units of Eq. 1 (photons·µm³; the peak expected count of a dot at
        the beam is ``n_qd / ((2π)^1.5 σxy² σz)`` ≈ 1.06 ``n_qd``). Not given by
        the paper; calibrated in chapter 06 (TrackPy against the paper's row).
    n_bkg : float
        Expected background photons per pixel (paper: 8.4).
    start_margin_px : float
        The walk starts at x, y uniform in ``[m, W-1-m]`` x ``[m, H-1-m]`` px.
    start_z_sd_um : float
        The walk starts at z ~ Normal(0, ``start_z_sd_um``) µm around the
        focal plane (0 puts every start in focus).
    bidirectional : bool
        Scan odd lines right to left (a resonant or bidirectional galvo scan);
        ``retrace_s`` is then the turnaround time between lines. Off by default
        (the paper's unidirectional raster).
    pmt_excess_noise : float
        Excess noise factor ``F >= 1`` of the photomultiplier (chapter 07): each
        detected photon is amplified by a Gamma-distributed gain of mean 1 and
        variance ``F - 1``, so a pixel's value has mean ``λ`` and variance
        ``F·λ``. ``1`` (the default, the paper's model) records pure Poisson counts.
    frame_pause_s : float
        Movies only: pause after the flyback at the end of a frame before the
        next frame's first line starts (the flyback itself takes ``retrace_s``).
    """

    height_px: int = 24
    width_px: int = 25
    pixel_size_um: float = 0.07
    dwell_s: float = 2e-6
    retrace_s: float = 1.1e-3
    D_um2_per_s: float = 1.0
    sigma_xy_um: float = 0.21
    sigma_z_um: float = 1.36
    n_qd: float = 7.5
    n_bkg: float = 8.4
    start_margin_px: float = 3.0
    start_z_sd_um: float = 0.0
    bidirectional: bool = False
    pmt_excess_noise: float = 1.0
    frame_pause_s: float = 0.0

    def __post_init__(self) -> None:
        _validate(self)

    # -- derived quantities -------------------------------------------------
    @property
    def n_pixels(self) -> int:
        """Pixels (and trajectory samples) per image, ``H·W``."""
        return self.height_px * self.width_px

    @property
    def line_period_s(self) -> float:
        """Time from the start of one line to the start of the next, ``W·dwell + retrace``."""
        return self.width_px * self.dwell_s + self.retrace_s

    @property
    def frame_time_s(self) -> float:
        """Time to record one frame, ``H·(W·dwell + retrace)``."""
        return self.height_px * self.line_period_s

    @property
    def frame_period_s(self) -> float:
        """Movies: time from the start of one frame to the start of the next.

        ``frame_time_s + frame_pause_s``.
        """
        return self.frame_time_s + self.frame_pause_s

    @property
    def peak_signal(self) -> float:
        """Expected signal photons (above background) with the dot at the beam, in focus."""
        return self.n_qd / ((2 * math.pi) ** 1.5 * self.sigma_xy_um**2 * self.sigma_z_um)

    # -- (de)serialisation ---------------------------------------------------
    def replace(self, **changes) -> SimParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def normalize_dict(cls, d: dict) -> dict:
        """``d`` as stored by an older version (fields added since take their defaults)."""
        return cls.from_dict(d).to_dict()

    @classmethod
    def from_dict(cls, d: dict) -> SimParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"unknown SimParams field(s) {unknown}; expected a subset of {sorted(known)}"
            )
        return cls(**d)

    def to_json(self, path: str | Path | None = None) -> str:
        """JSON text of the parameters; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        if path is not None:
            atomic_write_text(Path(path), text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> SimParams:
        """Parameters from JSON text or from a JSON file."""
        p = Path(text_or_path) if not str(text_or_path).lstrip().startswith("{") else None
        text = p.read_text() if p is not None else str(text_or_path)
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"parameters JSON {str(p or 'text')!r} is not valid JSON: {exc}"
            ) from exc
        if not isinstance(d, dict):
            raise ValueError(f"parameters JSON must hold an object, got {type(d).__name__}")
        return cls.from_dict(d)


# Allowed ranges: (kind, low, low_inclusive, high, high_inclusive)
_RULES: dict[str, tuple] = {
    "height_px": (int, 1, True, 4096, True),
    "width_px": (int, 1, True, 4096, True),
    "pixel_size_um": (float, 0.0, False, math.inf, False),
    "dwell_s": (float, 0.0, False, math.inf, False),
    "retrace_s": (float, 0.0, True, math.inf, False),
    "D_um2_per_s": (float, 0.0, True, math.inf, False),
    "sigma_xy_um": (float, 0.0, False, math.inf, False),
    "sigma_z_um": (float, 0.0, False, math.inf, False),
    "n_qd": (float, 0.0, True, math.inf, False),
    "n_bkg": (float, 0.0, True, math.inf, False),
    "start_margin_px": (float, 0.0, True, math.inf, False),
    "start_z_sd_um": (float, 0.0, True, math.inf, False),
    "pmt_excess_noise": (float, 1.0, True, 100.0, True),
    "frame_pause_s": (float, 0.0, True, math.inf, False),
}


def _interval(lo, lo_inc, hi, hi_inc) -> str:
    left = "[" if lo_inc else "("
    right = "]" if hi_inc else ")"
    return f"{left}{lo}, {hi}{right}"


def check_int(name: str, value, minimum: int = 0) -> int:
    """``value`` as an ``int``, after checking that it is an integer ``>= minimum``.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : int or numpy.integer
        The value to check (``bool`` and floats are refused).
    minimum : int
        Smallest allowed value.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``"{name}={value!r} is not allowed: expected an integer >= {minimum}"``.
    """
    if isinstance(value, bool) or not isinstance(value, int | np_integer) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed: expected an integer >= {minimum}")
    return int(value)


def check_value(name: str, value, kind, lo, lo_inc, hi, hi_inc):
    """Check one value against its rule; raise ``ValueError`` naming it.

    Parameters
    ----------
    name : str
        The value's name, for the message.
    value : int or float
        The value.
    kind : type
        ``int`` (a whole number, also given as a float) or ``float`` (a finite number).
    lo, lo_inc, hi, hi_inc : float, bool, float, bool
        The allowed interval and whether each end belongs to it.

    Raises
    ------
    ValueError
        ``"{name}={value!r} is not allowed: expected an integer in [lo, hi]"`` (or ``a finite
        number``, with the interval's brackets).
    """
    what = "an integer" if kind is int else "a finite number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        ok = False
    else:
        ok = math.isfinite(value) and (kind is not int or value == int(value))
    if ok:
        ok_lo = value >= lo if lo_inc else value > lo
        ok_hi = value <= hi if hi_inc else value < hi
        ok = ok_lo and ok_hi
    if not ok:
        raise ValueError(
            f"{name}={value!r} is not allowed: "
            f"expected {what} in {_interval(lo, lo_inc, hi, hi_inc)}"
        )


def _validate(p: SimParams) -> None:
    if not isinstance(p.bidirectional, bool | np_bool):
        raise ValueError(
            f"bidirectional={p.bidirectional!r} is not allowed: expected True or False"
        )
    object.__setattr__(p, "bidirectional", bool(p.bidirectional))
    for name, rule in _RULES.items():
        value = getattr(p, name)
        check_value(name, value, *rule)
        # Store ints as int and floats as float so that JSON round-trips exactly.
        object.__setattr__(p, name, int(value) if rule[0] is int else float(value))
    m = p.start_margin_px
    if 2 * m > p.width_px - 1 or 2 * m > p.height_px - 1:
        raise ValueError(
            f"start_margin_px={m!r} is not allowed: expected 2·margin <= min(H, W) - 1 = "
            f"{min(p.height_px, p.width_px) - 1} so that the start region is not empty"
        )
    if p.n_bkg + p.peak_signal > MAX_EXPECTED_COUNT:
        raise ValueError(
            f"n_qd={p.n_qd!r} is not allowed: the peak expected count n_bkg + peak signal = "
            f"{p.n_bkg + p.peak_signal:.4g} exceeds {MAX_EXPECTED_COUNT:g} "
            "(counts are stored as uint16)"
        )


#: The paper's parameters with this project's calibrated unknowns.
PAPER = SimParams()
