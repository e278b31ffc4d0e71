"""Reanalysis files -> model-grid training data (python -m neuralogcm_hpc.prepare)."""
