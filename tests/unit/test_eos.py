"""Equations of state against published check values."""

import jax
import jax.numpy as jnp
import pytest

from neuralogcm_hpc.physics.eos import RHO0, EquationOfState, density_jmfwg06

# Jackett, McDougall, Feistel, Wright & Griffies (2006), JAOT 23, Appendix A:
# rho(S [psu], theta [degC], p [dbar]) in kg m-3, published to 11 decimals.
CHECK_VALUES = [
    (35.0, 25.0, 2000.0, 1031.65056056576),
    (20.0, 20.0, 1000.0, 1017.72886801964),
    (40.0, 12.0, 8000.0, 1062.95279820631),
]


@pytest.mark.parametrize("salt,theta,pressure,expected", CHECK_VALUES)
def test_jmfwg06_check_values(salt, theta, pressure, expected):
    rho = density_jmfwg06(jnp.float64(salt), jnp.float64(theta), pressure)
    # The published values are rounded to 1e-11 kg m-3; float64 evaluation of
    # the 25-term rational function differs by ~1e-13 relative (~1e-10 absolute).
    assert abs(float(rho) - expected) < 2e-10


def test_jmfwg06_expansion_coefficients_by_autodiff():
    # Check values of the same fit (Jackett et al. 2006; also GFDL MOM4 docs):
    # alpha = -rho_theta / rho, beta = rho_S / rho at (20 psu, 20 degC, 1000 dbar).
    def rho(s, t):
        return density_jmfwg06(s, t, 1000.0)

    s, t = jnp.float64(20.0), jnp.float64(20.0)
    alpha = -jax.grad(rho, 1)(s, t) / rho(s, t)
    beta = jax.grad(rho, 0)(s, t) / rho(s, t)
    # 1e-12 relative: the values are given to 16 digits; autodiff of the rational
    # function is exact up to float64 round-off (~1e-14 relative here).
    assert float(alpha) == pytest.approx(2.525481286927133e-4, rel=1e-12)
    assert float(beta) == pytest.approx(7.379638527217575e-4, rel=1e-12)


def test_linear_eos_is_exactly_linear():
    eos = EquationOfState(kind="linear", alpha=2e-4, beta=8e-4, t0=10.0, s0=35.0)
    temp = jnp.array([10.0, 11.0, 10.0])
    salt = jnp.array([35.0, 35.0, 36.0])
    anomaly = eos.anomaly(temp, salt, 0.0)
    expected = jnp.array([0.0, -RHO0 * 2e-4, RHO0 * 8e-4])
    assert jnp.allclose(anomaly, expected, rtol=1e-14, atol=1e-12)


def test_nonlinear_anomaly_uses_boussinesq_pressure():
    eos = EquationOfState(kind="jmfwg06")
    depth = 1000.0 / (RHO0 * 9.81 * 1e-4)  # the depth at which p = 1000 dbar
    anomaly = eos.anomaly(jnp.float64(20.0), jnp.float64(20.0), depth)
    assert float(anomaly) + RHO0 == pytest.approx(1017.72886801964, abs=1e-9)


def test_unknown_eos_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="linear.*jmfwg06"):
        EquationOfState(kind="unesco")
