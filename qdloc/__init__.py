"""qdloc: simulated two-photon images of diffusing quantum dots, and their localisation.

A research compendium reproducing Netterstrøm et al., "Deep Learning-Assisted
Localisation of Nanoparticles in synthetically generated two-photon
microscopy images".
"""

from importlib import metadata as _metadata

from qdloc.sim.params import PAPER, SimParams
from qdloc.sim.simulate import BLOCK, Movie, Simulation, iter_simulate, simulate, simulate_movie

try:  # the version is written once, in pyproject.toml
    __version__ = _metadata.version("qdloc")
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "PAPER", "SimParams", "Simulation", "Movie", "simulate", "simulate_movie", "iter_simulate", "BLOCK", "__version__",
]
