"""Conservative regridding of C-grid fields between resolutions of one basin."""

from __future__ import annotations

import numpy as np

# A square closed basin of side L is cut into n equal cells at each resolution,
# so every grid shares its walls and only the cell count differs; n_in / n_out
# need not be an integer (26.7 km -> 40 km is 75 -> 50 cells, 1.5 per cell).


def overlap_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) fractions: row i holds the share of each input cell in
    output cell i, so ``W @ x`` is the length-weighted mean (conservative:
    sum_i W[i] * n_in / n_out = 1 per input cell)."""
    edges_in = np.linspace(0.0, 1.0, n_in + 1)
    edges_out = np.linspace(0.0, 1.0, n_out + 1)
    lo = np.maximum.outer(edges_out[:-1], edges_in[:-1])
    hi = np.minimum.outer(edges_out[1:], edges_in[1:])
    return np.clip(hi - lo, 0.0, None) * n_out


def face_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) linear interpolation from the n_in west faces (the wall
    face at 0 included; the east wall carries no flow) to the n_out west faces;
    exact where faces coincide, e.g. every face of an integer coarsening."""
    pos = np.arange(n_out) * n_in / n_out  # output faces in input-cell units
    left = np.floor(pos + 1e-9).astype(int)
    frac = np.clip(pos - left, 0.0, 1.0)
    frac[frac < 1e-9] = 0.0
    out = np.zeros((n_out, n_in))
    out[np.arange(n_out), np.minimum(left, n_in - 1)] += 1.0 - frac
    inside = left + 1 < n_in
    out[np.arange(n_out)[inside], left[inside] + 1] += frac[inside]
    return out


def regrid(fields: dict, n_out: int) -> dict[str, np.ndarray]:
    """Fields of an n x n basin (arrays (..., n, n); u on west faces, v on south
    faces, others at centres) on the n_out x n_out grid of the same basin.

    Centres: area-weighted means over the overlapping cells (conserves volume
    and tracer content). u: mean along y over the coarse face (conserves the
    transport through it), linear in x between fine faces (exact when they
    coincide); v likewise with the axes swapped.
    """
    out = {}
    for name, x in fields.items():
        x = np.asarray(x)
        n_in = x.shape[-1]
        avg, face = overlap_matrix(n_in, n_out), face_matrix(n_in, n_out)
        rows, cols = (face, avg) if name == "v" else (avg, face if name == "u"
                                                       else avg)
        out[name] = rows @ x @ cols.T  # two matrix products (BLAS), not a loop
    return out
