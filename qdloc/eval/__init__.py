"""How a localiser is judged: matching, precision-recall, AUC, bounds (chapter 06). Imports nothing else from qdloc."""
