"""Conservative regridding between lon-lat grids by separable overlap matrices.

A lon-lat cell is a product of a longitude interval and a latitude interval, and
its area on the sphere is R^2 dlambda (sin phi_n - sin phi_s). The overlap of
two cells is therefore the product of a longitude overlap (radians) and an
overlap in sin(latitude): two sparse 1-D matrices ``ox`` (dst x src columns) and
``oy`` (dst x src rows) give every overlap area as R^2 oy[j, l] ox[i, k]. The
model's cell areas (grid.py) use the same exact formula, so area integrals agree
to round-off.

NaN (land) is handled by carrying the wet overlap area alongside the integral:
``sums`` returns (integral of f over the wet overlap, wet overlap area) on the
destination cells; their ratio is the conservative mean, and the integral of the
result weighted by the wet overlap area equals the source integral exactly.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from neuralogcm_hpc.grid import EARTH_RADIUS


def edges_from_centres(centres: np.ndarray) -> np.ndarray:
    """Cell edges halfway between centres, the outer ones half a spacing out."""
    c = np.asarray(centres, np.float64)
    if c.size < 2:
        raise ValueError("a grid axis needs at least 2 points to infer cell edges")
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def overlap_matrix(dst: np.ndarray, src: np.ndarray, period: float = 0.0):
    """Sparse (n_dst, n_src) overlap lengths of the intervals [dst[i], dst[i+1]]
    and [src[k], src[k+1]] (both edges ascending); with ``period`` > 0 the source
    intervals repeat every period (longitude: 360 degrees)."""
    rows, cols, vals = [], [], []
    shifts = (-period, 0.0, period) if period else (0.0,)
    for shift in shifts:
        lo_s, hi_s = src[:-1] + shift, src[1:] + shift
        for i in range(len(dst) - 1):
            lo = np.maximum(dst[i], lo_s)
            hi = np.minimum(dst[i + 1], hi_s)
            (k,) = np.nonzero(hi > lo)
            rows.append(np.full(k.size, i))
            cols.append(k)
            vals.append(np.stack([lo[k], hi[k]]))
    both = np.concatenate(vals, axis=1) if vals else np.zeros((2, 0))
    return np.concatenate(rows), np.concatenate(cols), both


def lon_overlaps(dst_deg: np.ndarray, src_deg: np.ndarray, periodic: bool):
    """Longitude overlaps [radian] of destination and source cells."""
    rows, cols, (lo, hi) = overlap_matrix(dst_deg, src_deg, 360.0 if periodic else 0)
    shape = (len(dst_deg) - 1, len(src_deg) - 1)
    return sparse.csr_array((np.radians(hi - lo), (rows, cols)), shape=shape)


def lat_overlaps(dst_deg: np.ndarray, src_deg: np.ndarray):
    """Overlaps in sin(latitude) of destination and source rows."""
    src_deg = np.clip(src_deg, -90.0, 90.0)
    rows, cols, (lo, hi) = overlap_matrix(dst_deg, src_deg)
    values = np.sin(np.radians(hi)) - np.sin(np.radians(lo))
    shape = (len(dst_deg) - 1, len(src_deg) - 1)
    return sparse.csr_array((values, (rows, cols)), shape=shape)


class Conservative:
    """Area-weighted regridding of (..., ny_src, nx_src) fields onto one set of
    destination cells (model centres, or the cells around u or v faces)."""

    def __init__(
        self, src_lon_edges, src_lat_edges, dst_lon_edges, dst_lat_edges, periodic: bool
    ):
        self.ox = lon_overlaps(dst_lon_edges, src_lon_edges, periodic)
        self.oy = lat_overlaps(dst_lat_edges, src_lat_edges)
        self.radius2 = EARTH_RADIUS**2

    def integrate(self, x: np.ndarray) -> np.ndarray:
        """sum_src overlap area x x for every destination cell: (ny_dst, nx_dst)."""
        y = self.oy @ np.asarray(x, np.float64)  # (ny_dst, nx_src)
        return self.radius2 * (self.ox @ y.T).T

    def sums(self, field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(integral of ``field`` over the wet overlap, wet overlap area) per
        destination cell; NaN marks land. Their ratio is the conservative mean."""
        wet = np.isfinite(field)
        return self.integrate(np.where(wet, field, 0.0)), self.integrate(wet)


def cell_areas(lat_edges: np.ndarray, lon_edges: np.ndarray) -> np.ndarray:
    """Exact cell areas (ny, nx) [m2] of a lon-lat grid with these edges [degree]."""
    band = np.diff(np.sin(np.radians(np.clip(lat_edges, -90.0, 90.0))))
    return EARTH_RADIUS**2 * band[:, None] * np.radians(np.diff(lon_edges))[None]
