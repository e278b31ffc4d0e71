"""Halo exchanges per model step, counted from the messages the compiled step
really sends (not from the model's own formula)."""

import jax
import mpi4jax
import pytest

from neuralogcm_hpc.cases import build_model, case_config

pytestmark = pytest.mark.mpi


SW = {"grid.nx": 32, "grid.ny": 16}
PE = {"grid.nx": 16, "grid.ny": 16, "grid.nz": 3}
CASES = [
    ("beta_plane_small", SW),  # fb_ab3: one exchange per step
    ("beta_plane_small", {**SW, "time.integrator": "rk3", "physics.substeps": 2}),
    (
        "beta_plane_small",
        {**SW, "time.integrator": "heun", "physics.learn_fields": True},
    ),
    ("double_gyre", PE),  # opening of the barotropic cycle + closing exchange
    ("double_gyre", {**PE, "physics.substeps": 2, "physics.learn_fields": True}),
]


@pytest.mark.parametrize(("case", "overrides"), CASES)
def test_sent_messages_equal_the_declared_exchange_count(
    case, overrides, context, monkeypatch
):
    if context.size != 2:
        pytest.skip("counts the messages of a 2 x 1 tiling")
    config = case_config(case).replace(
        **overrides, **{"decomposition.px": 2, "decomposition.py": 1}
    )
    model = build_model(config, context)
    state, params = model.initial_state(), model.default_params()
    # Every sendrecv traced into the step reports each time it RUNS (the
    # barotropic cycle's refills sit under a lax.cond inside a loop, so a count
    # of the traced calls would not tell how many are sent).
    sent, real = [], mpi4jax.sendrecv

    def counting(buf, *args, **kwargs):
        jax.debug.callback(lambda: sent.append(1))
        return real(buf, *args, **kwargs)

    monkeypatch.setattr(mpi4jax, "sendrecv", counting)
    jax.block_until_ready(jax.jit(lambda s, p: model.step(s, p))(state, params))
    jax.effects_barrier()
    # 2 x 1 tiles: an exchange is two messages (east-going and west-going) along
    # x; along y the single tile row exchanges locally
    assert len(sent) == 2 * model.exchanges_per_step
