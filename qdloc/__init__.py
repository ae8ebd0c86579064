"""qdloc: simulated two-photon images of diffusing quantum dots, and their localisation.

A research compendium reproducing Netterstrøm et al., "Deep Learning-Assisted
Localisation of Nanoparticles in synthetically generated two-photon
microscopy images".
"""

from .params import PAPER, SimParams
from .simulate import BLOCK, Movie, Simulation, iter_simulate, simulate, simulate_movie

__version__ = "0.1.0"

__all__ = ["PAPER", "SimParams", "Simulation", "Movie", "simulate", "simulate_movie", "iter_simulate", "BLOCK", "__version__"]
