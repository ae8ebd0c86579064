"""The localisers: the method registry, TrackPy, the compact network, Keypoint R-CNN, training (chapter 05)."""
