"""Thickness-weighted mapping of source levels onto the model's z-levels."""

from __future__ import annotations

import numpy as np

from neuralogcm_hpc.prepare.conservative import overlap_matrix


def source_level_edges(depth: np.ndarray) -> np.ndarray:
    """Layer interfaces [m] around level-centre depths: 0 at the surface, halfway
    between centres, and the last centre plus half the spacing above it at the
    bottom (reanalysis files give centres only; GLORYS's first is 0.49 m)."""
    d = np.asarray(depth, np.float64)
    if d.ndim != 1 or np.any(np.diff(d) <= 0) or d[0] < 0:
        raise ValueError(
            "depth must be 1-D, increasing and positive down (level centres in m)"
        )
    mid = 0.5 * (d[1:] + d[:-1])
    bottom = d[-1] + (d[-1] - mid[-1]) if d.size > 1 else 2 * d[0]
    return np.concatenate([[0.0], mid, [bottom]])


def level_overlaps(model_edges: np.ndarray, source_edges: np.ndarray) -> np.ndarray:
    """Dense (nz_model, nz_source) overlap thicknesses [m]."""
    rows, cols, (lo, hi) = overlap_matrix(model_edges, source_edges)
    out = np.zeros((len(model_edges) - 1, len(source_edges) - 1))
    np.add.at(out, (rows, cols), hi - lo)
    return out
