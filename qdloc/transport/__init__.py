"""From positions to transport: linking and diffusion estimators (chapter 07)."""
