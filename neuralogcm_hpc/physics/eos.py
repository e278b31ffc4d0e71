"""Seawater equations of state: linear and Jackett et al. (2006) rational function."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import Array

from neuralogcm_hpc.physics.constants import RHO0

DBAR_PER_PA = 1e-4

# Jackett, McDougall, Feistel, Wright & Griffies (2006), J. Atmos. Oceanic Technol.
# 23, 1709-1728, Appendix A, Table A2 (potential-temperature form, 25 terms):
# rho(S, theta, p) = P_num / P_den with theta [degC, ITS-90], S [psu], p [dbar]
# (sea pressure). Each entry: (coefficient, power of theta, power of S, power of p);
# S powers of 1.5 are the sqrt(S) terms. Published check values are tested in
# tests/unit/test_eos.py.
_NUMERATOR = (
    (9.9984085444849347e02, 0, 0, 0),
    (7.3471625860981584e00, 1, 0, 0),
    (-5.3211231792841769e-02, 2, 0, 0),
    (3.6492439109814549e-04, 3, 0, 0),
    (2.5880571023991390e00, 0, 1, 0),
    (-6.7168282786692355e-03, 1, 1, 0),
    (1.9203202055760151e-03, 0, 2, 0),
    (1.1798263740430364e-02, 0, 0, 1),
    (9.8920219266399117e-08, 2, 0, 1),
    (4.6996642771754730e-06, 0, 1, 1),
    (-2.5862187075154352e-08, 0, 0, 2),
    (-3.2921414007960662e-12, 2, 0, 2),
)
_DENOMINATOR = (
    (1.0, 0, 0, 0),
    (7.2815210113327091e-03, 1, 0, 0),
    (-4.4787265461983921e-05, 2, 0, 0),
    (3.3851002965802430e-07, 3, 0, 0),
    (1.3651202389758572e-10, 4, 0, 0),
    (1.7632126669040377e-03, 0, 1, 0),
    (-8.8066583251206474e-06, 1, 1, 0),
    (-1.8832689434804897e-10, 3, 1, 0),
    (5.7463776745432097e-06, 0, 1.5, 0),
    (1.4716275472242334e-09, 2, 1.5, 0),
    (6.7103246285651894e-06, 0, 0, 1),
    (-2.4461698007024582e-17, 3, 0, 2),
    (-9.1534417604289062e-18, 1, 0, 3),
)


def _powers(x: Array, top: int) -> list[Array]:
    out = [jnp.ones_like(x)]
    for _ in range(top):
        out.append(out[-1] * x)
    return out


def _polynomial(terms, theta, salt, sqrt_salt, pressure) -> Array:
    t = _powers(theta, 4)
    s = {0: jnp.ones_like(salt), 1: salt, 2: salt * salt, 1.5: salt * sqrt_salt}
    p = _powers(pressure, 3)
    total = jnp.zeros_like(theta)
    for coefficient, it, js, kp in terms:
        total = total + coefficient * t[it] * s[js] * p[kp]
    return total


def density_jmfwg06(salt: Array, theta: Array, pressure: Array | float) -> Array:
    """In-situ density [kg m-3] from S [psu], potential temperature [degC], p [dbar].

    Valid for the oceanographic range (0-42 psu, -2-40 degC, 0-8000 dbar);
    negative salinity (possible transiently in a model) is clipped to 0 in the
    sqrt(S) terms only, which keeps the gradient finite.
    """
    theta = jnp.asarray(theta)
    salt = jnp.asarray(salt, theta.dtype)
    pressure = jnp.broadcast_to(jnp.asarray(pressure, theta.dtype), theta.shape)
    # sqrt has an infinite derivative at 0; 1e-12 psu is far below any signal.
    sqrt_salt = jnp.sqrt(jnp.maximum(salt, 1e-12))
    numerator = _polynomial(_NUMERATOR, theta, salt, sqrt_salt, pressure)
    denominator = _polynomial(_DENOMINATOR, theta, salt, sqrt_salt, pressure)
    return numerator / denominator


@dataclasses.dataclass(frozen=True)
class EquationOfState:
    """Density anomaly rho - rho0 [kg m-3] of (T, S) at depth z [m, positive down].

    ``linear``: rho = rho0 (1 - alpha (T - T0) + beta (S - S0)).
    ``jmfwg06``: Jackett et al. (2006) with the Boussinesq pressure
    p = rho0 g z (dbar); the hydrostatic pressure of the free surface and of the
    density anomaly are neglected in the EOS (< 0.5 % of p), as in most
    z-level Boussinesq models.
    """

    kind: str = "linear"
    rho0: float = RHO0
    alpha: float = 2e-4  # thermal expansion [K-1]
    beta: float = 7.6e-4  # haline contraction [psu-1]
    t0: float = 10.0  # [degC]
    s0: float = 35.0  # [psu]
    gravity: float = 9.81

    def __post_init__(self):
        if self.kind not in ("linear", "jmfwg06"):
            raise ValueError(
                f"unknown equation of state {self.kind!r}; use 'linear' or 'jmfwg06'"
            )

    def anomaly(self, temp: Array, salt: Array, depth: Array | float) -> Array:
        """rho - rho0 [kg m-3]; ``depth`` broadcasts against temp (e.g. (nz,1,1))."""
        if self.kind == "linear":
            return self.rho0 * (
                -self.alpha * (temp - self.t0) + self.beta * (salt - self.s0)
            )
        pressure = self.rho0 * self.gravity * DBAR_PER_PA * jnp.asarray(depth)
        pressure = jnp.broadcast_to(pressure, jnp.shape(temp)).astype(temp.dtype)
        return density_jmfwg06(salt, temp, pressure) - self.rho0
