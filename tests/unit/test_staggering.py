"""The corrector on the C-grid: centre inputs, face outputs, flux-form mass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import case_config, with_derived
from neuralogcm_hpc.cases.eddying_gyre import noise
from neuralogcm_hpc.model import HybridModel
from neuralogcm_hpc.neural.corrector import Normaliser
from neuralogcm_hpc.physics.shallow_water import ShallowWaterModel


@pytest.fixture(scope="module")
def gyre_with_island():
    config = with_derived(case_config("eddying_gyre").replace(
        **{"grid.nx": 16, "grid.ny": 16}), set())
    depth = np.full((16, 16), config.grid.depth)
    depth[5:8, 9:12] = 0.0  # an island: coasts inside the basin, not only walls
    core = ShallowWaterModel(config, bathymetry=depth, initial=noise)
    return HybridModel(core, 2)


def test_corrector_conserves_volume_to_round_off(gyre_with_island):
    # A random, strongly non-zero corrector (head weights x 1e3, at its output
    # cap almost everywhere) on a random
    # state: the ssh correction integrates to zero over the basin, relative to
    # the integral of its magnitude, to 1e-14 (round-off of 256 terms), and
    # the volume diagnostic after 5 hybrid steps keeps its value to 1e-14.
    hybrid = gyre_with_island
    core = hybrid.model
    # outputs scaled to 1e-6 field units per second (a day: 0.1 m/s, 0.1 m)
    norm = Normaliser(jnp.zeros(5), jnp.asarray([0.5, 0.5, 20.0, 1e-4, 750.0]),
                      jnp.full(4, 1e-6))
    params = hybrid.init_params(core.default_params(), jax.random.key(3), 8, 3,
                                norm=norm, output_init_scale=1e3)
    rng = np.random.default_rng(0)
    fields = {n: jnp.asarray(rng.normal(scale=s, size=(16, 16)))
              for n, s in (("u", 0.5), ("v", 0.5), ("ssh", 20.0))}
    state = core.with_fields(core.initial_state(), fields)
    corr = hybrid.correction(params.corrector, state.fields)
    area = np.asarray(core.grid.interior(core.grid.area_c * core.grid.mask_c))
    total = float(np.sum(area * corr["ssh"]))
    scale = float(np.sum(area * np.abs(corr["ssh"])))
    assert scale > 0 and abs(total) <= 1e-14 * scale
    v0 = float(core.diagnostics(state)["volume"])
    later = jax.jit(hybrid.advance, static_argnums=2)(state, params, 5)
    v1 = float(core.diagnostics(later)["volume"])
    assert abs(v1 - v0) <= 1e-14 * v0
    for name in ("u", "v", "ssh"):  # nothing enters land or walls
        land = np.asarray(hybrid.out_masks[name]) == 0
        assert not np.any(np.asarray(corr[name])[land])


def test_velocity_inputs_reach_the_network_at_cell_centres(gyre_with_island):
    # u linear in x: the centre value is the mean of the west and east faces,
    # exactly (the halo is refilled, so the tile edge is right too)
    hybrid = gyre_with_island
    core, h = hybrid.model, hybrid.halo.width
    u = jnp.asarray(np.tile(np.arange(16.0), (16, 1)))
    state = core.with_fields(core.initial_state(),
                             {"u": u, "v": 0 * u, "ssh": 0 * u})
    centre = hybrid.adapter.inputs(state.fields)["u"][h:-h, h:-h]
    expected = 0.5 * (np.asarray(core.fields(state)["u"])
                      + np.pad(np.asarray(core.fields(state)["u"])[:, 1:],
                               ((0, 0), (0, 1))))
    np.testing.assert_array_equal(np.asarray(centre), expected)
