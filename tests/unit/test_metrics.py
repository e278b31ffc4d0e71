"""analysis.metrics and analysis.regrid against independent computations."""

import numpy as np
import pytest
import scipy.stats

from neuralogcm_hpc.analysis import metrics
from neuralogcm_hpc.analysis.regrid import regrid


def test_wasserstein1_equals_scipy():
    # exact algorithms both: agreement to round-off of the sums (1e-12 relative)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=1000), rng.gamma(2.0, size=777) - 1.0
    want = scipy.stats.wasserstein_distance(a, b)
    assert metrics.wasserstein1(a, b) == pytest.approx(want, rel=1e-12)
    assert metrics.wasserstein1(a, a) == 0.0


def test_ke_spectrum_puts_a_plane_wave_at_its_wavenumber_with_its_energy():
    # u = sin(2 pi k0 x / L): all energy in the bin of k0; the Hann window's
    # normalisation keeps the total, and averaging faces to centres scales it
    # by cos^2(pi k0 / n) (0.854 for k0 = 8, n = 64): 1e-3 relative.
    n, dx, k0 = 64, 1e3, 8
    x = np.arange(n) * dx
    u = np.sin(2 * np.pi * k0 * x / (n * dx))[None, None, :] * np.ones((1, n, n))
    k, energy = metrics.ke_spectrum(u, 0 * u, dx)
    dk = k[1] - k[0]
    assert k[np.argmax(energy)] == pytest.approx(k0 * 2 * np.pi / (n * dx))
    expected = 0.25 * np.cos(np.pi * k0 / n) ** 2
    assert energy.sum() * dk == pytest.approx(expected, rel=1e-3)


def test_ke_spectrum_slope_of_a_synthetic_power_law_field():
    # A random-phase field with E(k) ~ k^-3 must come back with slope -3
    # (least squares over k in [4, 20] fundamentals; +-0.3 allows the window
    # leakage and the finite-sample scatter of one realisation).
    n, dx = 128, 1e3
    rng = np.random.default_rng(1)
    kx, ky = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n))
    kk = np.hypot(kx, ky)
    kk[0, 0] = 1.0
    amp = kk ** (-2.0)  # |u_k|^2 ~ k^-4 per mode -> E(k) ~ k^-3 per unit k
    amp[0, 0] = 0.0
    phase = np.exp(2j * np.pi * rng.random((n, n)))
    u = np.real(np.fft.ifft2(amp * phase))[None]
    k, energy = metrics.ke_spectrum(u, 0 * u, dx)
    sel = slice(3, 20)
    slope = np.polyfit(np.log(k[sel]), np.log(energy[sel]), 1)[0]
    assert slope == pytest.approx(-3.0, abs=0.3)


def test_energy_split_of_a_steady_flow_is_all_mean():
    u = np.ones((5, 4, 4))
    e = metrics.energy_split(u, 0 * u)
    assert e["eke"] == 0.0 and e["mke"] > 0


def test_jet_penetration_reaches_the_last_strong_column():
    u = np.zeros((20, 10))
    u[9:11, :6] = 1.0  # a jet in the middle rows reaching 6 columns east
    assert metrics.jet_penetration(u, 1e3) == 6e3


@pytest.mark.parametrize("n_in, n_out", [(16, 4), (75, 50), (150, 50), (6, 4)])
def test_regrid_conserves_volume_and_transport(n_in, n_out):
    # the basin mean of a centre field and the transport through every coarse
    # face that coincides with a fine face are conserved to round-off (1e-13)
    rng = np.random.default_rng(2)
    f = {n: rng.normal(size=(3, n_in, n_in)) for n in ("u", "v", "ssh")}
    g = regrid(f, n_out)
    np.testing.assert_allclose(g["ssh"].mean((-2, -1)), f["ssh"].mean((-2, -1)),
                               rtol=0, atol=1e-13)
    step = n_in // np.gcd(n_in, n_out)  # fine faces between coincident faces
    coarse_every = n_out // np.gcd(n_in, n_out)
    fine_t = f["u"][..., ::step].mean(-2)
    coarse_t = g["u"][..., ::coarse_every].mean(-2)
    np.testing.assert_allclose(coarse_t, fine_t, rtol=0, atol=1e-13)
