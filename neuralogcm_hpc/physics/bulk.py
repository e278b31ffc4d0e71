"""Bulk formulae: 10 m wind -> surface wind stress (Large & Yeager 2009 drag)."""

from __future__ import annotations

import numpy as np

RHO_AIR = 1.22  # kg m-3, air density at the sea surface (Large & Yeager 2004, sec. 2)
MIN_WIND = 0.5  # m s-1: the drag law's 2.7 / U term is bounded below this speed
CAP_WIND = 33.0  # m s-1: above it the drag coefficient is held at CAP_DRAG
CAP_DRAG = 2.34e-3


def drag_coefficient(speed: np.ndarray) -> np.ndarray:
    """Neutral 10 m drag coefficient C_D(U10) of the CORE bulk formulae:

        1e3 C_D = 2.7 / U + 0.142 + 0.0764 U - 3.14807e-10 U^6   (U < 33 m/s)
        C_D = 2.34e-3                                              (U >= 33 m/s)

    Large, W. G. and Yeager, S. G. (2009), "The global climatology of an
    interannually varying air-sea flux data set", Clim. Dyn. 33, 341-364,
    eq. 11a (the U < 33 form is Large & Yeager 2004, NCAR/TN-460+STR, eq. 6a,
    0.0764 = 1 / 13.09, plus the high-wind term). U is floored at 0.5 m/s
    (LY04: calm winds), so C_D is finite. The stability correction to 10 m
    neutral winds is left out: ERA5's u10, v10 are used as neutral winds
    (an error of a few % of the stress in the tropics, more over cold water).
    """
    u = np.maximum(np.asarray(speed, np.float64), MIN_WIND)
    low = 1e-3 * (2.7 / u + 0.142 + 0.0764 * u - 3.14807e-10 * u**6)
    return np.where(u < CAP_WIND, low, CAP_DRAG)


def wind_stress(u10: np.ndarray, v10: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tau_x, tau_y) [N m-2] = rho_air C_D(|U10|) |U10| (u10, v10) at the points
    of the winds [m s-1] (ocean currents neglected: U10 relative to a resting
    surface). NaN (land) stays NaN."""
    u10 = np.asarray(u10, np.float64)
    v10 = np.asarray(v10, np.float64)
    speed = np.hypot(u10, v10)
    k = RHO_AIR * drag_coefficient(speed) * speed
    return k * u10, k * v10


def to_faces(tx_c: np.ndarray, ty_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stress at cell centres (..., ny + 2, nx + 2) with one ring of neighbours ->
    the interior's C-grid faces (..., ny + 1, nx + 1) minus the ring: tau_x at
    west faces, the mean of the centres either side (i - 1, i), tau_y at south
    faces (j - 1, j). Returns (taux (..., ny, nx), tauy (..., ny, nx))."""
    taux = 0.5 * (tx_c[..., 1:-1, :-2] + tx_c[..., 1:-1, 1:-1])
    tauy = 0.5 * (ty_c[..., :-2, 1:-1] + ty_c[..., 1:-1, 1:-1])
    return taux, tauy
