"""Sets and movie sets on disk: atomic writes, presets, provenance (chapter 04)."""
