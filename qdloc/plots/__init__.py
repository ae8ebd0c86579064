"""Figures: one module per chapter."""
