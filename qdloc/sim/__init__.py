"""The microscope and the dot: scanner timing, random walks, the PSF, images (chapters 01-03)."""
