"""Online-evaluation statistics of a gyre run: energies, spectra, distances, jet."""

from __future__ import annotations

import numpy as np

# Statistics operate on GLOBAL numpy arrays of a closed basin on the evaluation
# grid (40 km: 50 x 50 cells, 20 kB a field), shape (time, ny, nx): u on west
# faces, v on south faces, ssh at centres (the model's C-grid layout). The wall
# faces east of the last column and north of the last row carry no flow.


def to_centres(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face velocities averaged to cell centres (the closing walls add zeros)."""
    u_east = np.concatenate([u[..., 1:], np.zeros_like(u[..., :1])], axis=-1)
    v_north = np.concatenate([v[..., 1:, :], np.zeros_like(v[..., :1, :])], axis=-2)
    return 0.5 * (u + u_east), 0.5 * (v + v_north)


def relative_vorticity(u: np.ndarray, v: np.ndarray, dx: float) -> np.ndarray:
    """dv/dx - du/dy at interior cell corners (south-west corners, walls excluded),
    s-1: shape (..., ny - 1, nx - 1)."""
    dv_dx = (v[..., 1:, 1:] - v[..., 1:, :-1]) / dx
    du_dy = (u[..., 1:, 1:] - u[..., :-1, 1:]) / dx
    return dv_dx - du_dy


def energy_split(u: np.ndarray, v: np.ndarray, region=np.s_[...]) -> dict:
    """Mean and eddy kinetic energy per unit mass (m2 s-2), area means over
    ``region`` (a (y, x) index): MKE = |<u>|^2 / 2, EKE = <|u - <u>|^2> / 2, <>
    the time mean over the series' first axis, at cell centres."""
    uc, vc = to_centres(u, v)
    um, vm = uc.mean(0), vc.mean(0)
    mke = 0.5 * (um**2 + vm**2)
    eke = 0.5 * (((uc - um) ** 2).mean(0) + ((vc - vm) ** 2).mean(0))
    return {"mke": float(mke[region].mean()), "eke": float(eke[region].mean()),
            "eke_map": eke}


def jet_band(ny: int, half_width_fraction: float = 0.15):
    """(y, x) index of the band of rows around mid-basin where the jet separates
    (+-15 % of the basin: +-300 km of a 2000 km basin)."""
    mid, half = ny / 2.0, max(1, round(half_width_fraction * ny))
    return np.s_[int(mid - half) : int(mid + half), :]


def jet_penetration(u_mean: np.ndarray, dx: float, fraction: float = 0.25) -> float:
    """Eastward reach of the separated jet (m): distance from the western wall to
    the easternmost column of the jet band where the time-mean eastward velocity
    still reaches ``fraction`` of its band maximum."""
    band = u_mean[jet_band(u_mean.shape[-2])]
    reach = band.max(axis=0)
    strong = np.nonzero(reach >= fraction * reach.max())[0]
    return float((strong.max() + 1) * dx) if strong.size else 0.0


def ke_spectrum(u: np.ndarray, v: np.ndarray, dx: float):
    """Isotropic kinetic-energy spectrum of centre velocities, time-averaged:
    (k, E(k)) with k in rad m-1 at the centres of bins one fundamental wide,
    E in m3 s-2 (sum E dk = area-mean KE of the windowed field).

    A closed basin is not periodic: each snapshot is tapered by a 2-D Hann
    window before the FFT so the walls do not leak power to all wavenumbers.
    """
    uc, vc = to_centres(np.atleast_3d(u), np.atleast_3d(v))
    ny, nx = uc.shape[-2:]
    window = np.outer(np.hanning(ny), np.hanning(nx))
    power = 0.0
    for comp in (uc, vc):
        spec = np.fft.fft2(comp * window, axes=(-2, -1))
        power = power + 0.5 * (np.abs(spec) ** 2).mean(0) / (nx * ny) ** 2
    power = power / (window**2).mean()
    ky = 2 * np.pi * np.fft.fftfreq(ny, dx)
    kx = 2 * np.pi * np.fft.fftfreq(nx, dx)
    kk = np.hypot(*np.meshgrid(ky, kx, indexing="ij"))
    dk = 2 * np.pi / (max(nx, ny) * dx)
    bins = np.arange(0.5, min(nx, ny) // 2 + 1) * dk
    which = np.digitize(kk.ravel(), np.concatenate([[0.0], bins]))
    energy = np.bincount(which, power.ravel(), minlength=len(bins) + 2)
    k = np.arange(len(bins)) * dk
    return k[1:], energy[2 : len(bins) + 1] / dk


def wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 distance of two samples' empirical distributions, the
    integral of |F_a - F_b| over the merged support (exact, any sizes)."""
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    grid = np.concatenate([a, b])
    grid.sort()
    cdf_a = np.searchsorted(a, grid[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, grid[:-1], side="right") / b.size
    return float(np.sum(np.abs(cdf_a - cdf_b) * np.diff(grid)))


def rmse(a: np.ndarray, b: np.ndarray, axis=None) -> np.ndarray:
    return np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2, axis=axis))
