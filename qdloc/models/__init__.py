"""Localisers with learned weights: ``compact`` (ours) and ``frcnn`` (the paper's Keypoint R-CNN)."""
