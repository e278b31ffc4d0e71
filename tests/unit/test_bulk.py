"""Bulk formula: 10 m wind -> stress with the Large & Yeager (2009) drag."""

import numpy as np
import pytest

from neuralogcm_hpc.physics.bulk import drag_coefficient, to_faces, wind_stress


def test_drag_and_stress_against_hand_computed_values():
    # U = 10 m/s: 1e3 C_D = 2.7/10 + 0.142 + 0.0764 x 10 - 3.14807e-10 x 1e6
    #                     = 0.27 + 0.142 + 0.764 - 3.14807e-4 = 1.175685193
    assert drag_coefficient(10.0) == pytest.approx(1.175685193e-3, rel=1e-12)
    # tau = 1.22 x 1.175685193e-3 x 10 x (6, 8) = 0.1434335935 x (0.6, 0.8)
    tx, ty = wind_stress(6.0, 8.0)
    assert tx == pytest.approx(0.14343359355 * 0.6, rel=1e-10)
    assert ty == pytest.approx(0.14343359355 * 0.8, rel=1e-10)
    # calm: C_D at the 0.5 m/s floor (5.5802e-3), |U| itself not floored:
    # tau = 1.22 x 5.5802e-3 x 0.2 x 0.2 = 2.7231e-4
    assert wind_stress(0.2, 0.0)[0] == pytest.approx(2.7231376e-4, rel=1e-7)
    assert wind_stress(0.0, 0.0) == (0.0, 0.0)
    # above 33 m/s C_D = 2.34e-3: tau = 1.22 x 2.34e-3 x 40^2 = 4.56768
    assert wind_stress(-40.0, 0.0)[0] == pytest.approx(-4.56768, rel=1e-12)
    # the two branches meet at 33 m/s within 0.1 % (LY09 chose the cap so)
    assert drag_coefficient(33.0 - 1e-9) == pytest.approx(2.34e-3, rel=1e-3)


def test_stress_is_odd_in_the_wind_and_nan_stays_nan():
    u = np.array([3.0, -3.0, np.nan])
    tx, ty = wind_stress(u, np.zeros(3))
    assert tx[0] == -tx[1] > 0 and np.isnan(tx[2]) and ty[0] == 0


def test_faces_average_the_centres_either_side():
    c = np.arange(20.0).reshape(4, 5)  # centres with one ring around 2 x 3
    taux, tauy = to_faces(c, 10 * c)
    assert taux.shape == tauy.shape == (2, 3)
    np.testing.assert_array_equal(taux, 0.5 * (c[1:-1, :-2] + c[1:-1, 1:-1]))
    np.testing.assert_array_equal(tauy, 5.0 * (c[:-2, 1:-1] + c[1:-1, 1:-1]))
