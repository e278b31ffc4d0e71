"""The one interface every physics core implements, and the plumbing they share."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import jax
import numpy as np

from neuralogcm_hpc import solver
from neuralogcm_hpc.config import Config, validate
from neuralogcm_hpc.grid import Grid, build_grid, decomposition_for
from neuralogcm_hpc.parallel.context import ParallelContext, get_context
from neuralogcm_hpc.parallel.decomposition import Decomposition
from neuralogcm_hpc.parallel.halo import Halo
from neuralogcm_hpc.physics import guard
from neuralogcm_hpc.physics.opaque import opaque_constants
from neuralogcm_hpc.state import OceanState


@runtime_checkable
class PhysicsCore(Protocol):
    """What ``Simulation``, ``HybridModel``, the trainer and the I/O rely on.

    A core owns one rank's tile: its grid (halo included), the halo exchange and
    the decomposition. Fields travel as dicts of tile arrays whose last two axes
    are (y, x) with a filled halo inside a state, and without a halo through
    ``fields`` / ``with_fields``. ``step`` is pure (jit it outside) and takes
    an optional ``correction(fields) -> tendencies`` that the core adds to its
    own tendency (the hybrid's unified coupling).
    """

    config: Config
    context: ParallelContext
    decomposition: Decomposition
    halo: Halo
    grid: Grid
    dt: float  # seconds per model step
    exchanges_per_step: int  # packed halo messages per neighbour and model step
    prognostic_names: tuple[str, ...]

    def masks(self) -> dict[str, jax.Array]:
        """Wet mask of each prognostic field at its C-grid position (halo incl.)."""

    def default_params(self): ...

    def initial_state(self) -> OceanState: ...

    def fields(self, state: OceanState) -> dict[str, jax.Array]: ...

    def with_fields(self, state: OceanState, fields: dict) -> OceanState: ...

    def step(self, state: OceanState, params, correction=None) -> OceanState: ...

    def advance(self, state: OceanState, params, n_steps: int) -> OceanState: ...

    def health(self, state: OceanState) -> guard.Health: ...

    def check(self, health: guard.Health, step: int) -> None: ...

    def diagnostics(self, state: OceanState) -> dict[str, jax.Array]: ...


class TiledCore:
    """The plumbing both cores share: the validated config, this rank's
    decomposition, halo and grid, and the field views and rollout built on
    ``masks()``. A core subclasses it and supplies the physics."""

    prognostic_names: tuple[str, ...] = ()

    def __init__(
        self,
        config: Config,
        context: ParallelContext | None,
        bathymetry: np.ndarray | None,
    ):
        self.config = validate(config)
        self.check_config(self.config)
        self.context = context or get_context()
        self.decomposition = decomposition_for(config, self.context.size)
        self.halo = Halo(self.decomposition, config.grid.halo, self.context)
        self.grid: Grid = build_grid(
            config, self.decomposition, self.context.rank, bathymetry
        )
        self.dt = config.time.dt
        self._fill_program = jax.jit(self._fill)

    def check_config(self, config: Config) -> None:
        """Refuse (ConfigError) settings this core cannot run, before any grid
        or halo is built."""

    def masks(self) -> dict[str, jax.Array]:
        raise NotImplementedError

    def fields(self, state: OceanState) -> dict[str, jax.Array]:
        """The prognostic fields without their halo."""
        return {n: self.grid.interior(state.fields[n]) for n in self.prognostic_names}

    def with_fields(self, state: OceanState, fields: dict) -> OceanState:
        """``state`` with new interior ``fields``, halos filled and land masked."""
        return state.replace(fields=self.fill(fields))

    def fill(self, interior_fields: dict) -> dict[str, jax.Array]:
        """Interior tiles padded, their halos exchanged (one message), masked.

        One compiled program (masks passed in, not baked in as constants): run
        eagerly at start-up and on restart it is 1 compilation instead of ~10
        (one per jnp operation, ~50 ms each on the CPU); inside a traced step
        XLA inlines it."""
        return self._fill_program(interior_fields, self.masks())

    def _fill(self, interior_fields: dict, masks: dict) -> dict[str, jax.Array]:
        padded = {n: self.grid.pad(interior_fields[n]) for n in self.prognostic_names}
        return {n: masks[n] * v for n, v in self.halo.tree(padded).items()}

    def advance(self, state: OceanState, params, n_steps: int) -> OceanState:
        """``n_steps`` model steps in one lax.scan (pure; jit and donate outside)."""
        return solver.rollout(lambda s: self.step(s, params), state, n_steps)

    def step(self, state: OceanState, params, correction=None) -> OceanState:
        """One model step, with the core's static arrays hidden from XLA's
        simplifier (physics/opaque.py) so that every tiling compiles the same
        arithmetic; the core's ``_step`` does the work."""
        return opaque_constants(self)._step(state, params, correction)

    def _step(self, state: OceanState, params, correction) -> OceanState:
        raise NotImplementedError
