"""HybridModel: a physics core plus a tile-local neural corrector, stepped together."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from neuralogcm_hpc import solver
from neuralogcm_hpc.neural.corrector import ConvCorrector, Normaliser, trainable_filter
from neuralogcm_hpc.neural.staggering import CGridAdapter
from neuralogcm_hpc.parallel.halo import interior, with_halo


class HybridParams(eqx.Module):
    """Everything trainable: the physics core's parameters and the network."""

    physics: eqx.Module
    corrector: ConvCorrector | None


class HybridModel:
    """One hybrid step advances ``cadence`` physics steps of the core.

    ``coupling="split"`` (NeuralGCM-style forward Euler over the hybrid step):
    ``x(t + K dt) = P^K(x(t)) + K dt C(x(t))`` where ``P`` is one physics step
    (itself any integrator, with sub-steps when the core's config asks) and ``C``
    the corrector tendency evaluated once per hybrid step, so the network costs
    1/K of a per-step evaluation.
    ``coupling="unified"``: ``C`` is added to the physics tendency at every
    integrator stage of every physics step (``dx/dt = F(x) + C(x)``, integrated
    by the core's scheme, e.g. RK3; one corrector call per stage).
    Without a corrector (``params.corrector is None``) it is the physics core.

    Two baselines that tell what each part buys (same network, same training):
    ``physics_core=False`` is a pure-ML emulator, ``x(t + K dt) = x(t) + K dt
    C(x(t))`` (split coupling; the core only supplies grid, masks and halos);
    ``corrector_inputs="geography"`` feeds the network zeros for the state, so
    ``C`` is a learned, state-independent forcing (a bias corrector).
    """

    def __init__(self, model, cadence: int = 1, coupling: str = "split",
                 physics_core: bool = True, corrector_inputs: str = "state"):
        if cadence < 1:
            raise ValueError(f"train.cadence must be >= 1, got {cadence}")
        if coupling not in ("split", "unified"):
            raise ValueError(f"train.coupling must be split or unified, not {coupling}")
        if coupling == "unified" and cadence != 1:
            raise ValueError("train.coupling=unified corrects every stage: set "
                             "train.cadence=1 (cadence applies to split coupling)")
        if not physics_core and coupling != "split":
            raise ValueError("train.physics_core=false (pure-ML emulator) steps "
                             "with the corrector alone: set train.coupling=split")
        if corrector_inputs not in ("state", "geography"):
            raise ValueError(f"train.corrector_inputs must be state or geography, "
                             f"not {corrector_inputs}")
        self.model, self.cadence, self.coupling = model, cadence, coupling
        self.physics_core, self.corrector_inputs = physics_core, corrector_inputs
        self.halo, self.grid = model.halo, model.grid
        self.names = tuple(model.prognostic_names)
        self.dt = cadence * model.dt  # seconds per hybrid step
        h = self.halo.width
        three_d = model.grid.nz > 1 and "temp" in self.names
        self.mask = model.grid.mask_c
        self.out_masks = {n: interior(m, h) for n, m in model.masks().items()}
        # the network works at cell centres; the adapter maps to the C-grid
        self.adapter = CGridAdapter(model.grid, self.halo, self.names, three_d)
        # Static geography the network may need: Coriolis and resting depth.
        shape = self.mask.shape
        self.forcing = {
            "f": jnp.broadcast_to(model.grid.f_c, shape),
            "depth": jnp.broadcast_to(model.grid.depth, shape),
        }

    @classmethod
    def from_config(cls, model, train) -> HybridModel:
        """The hybrid that ``train`` (a TrainConfig) describes around ``model``."""
        return cls(model, train.cadence, train.coupling, train.physics_core,
                   train.corrector_inputs)

    # -- construction -------------------------------------------------------------
    def levels(self, state) -> tuple[tuple[str, int], ...]:
        """(name, levels) of each prognostic field, as the corrector sees it."""
        return tuple(
            (n, state.fields[n].shape[0] if state.fields[n].ndim == 3 else 1)
            for n in self.names
        )

    def init_params(
        self,
        physics,
        key: jax.Array,
        width: int,
        depth: int,
        norm: Normaliser | None = None,
        output_init_scale: float = 1e-3,
        use_corrector: bool = True,
    ) -> HybridParams:
        """Physics parameters plus a fresh corrector (None: physics only)."""
        if not use_corrector:
            return HybridParams(physics, None)
        state = self.model.initial_state()
        dtype = state.fields[self.names[0]].dtype
        levels = self.levels(state)
        net = ConvCorrector(
            levels, (("f", 1), ("depth", 1)), width, depth, key,
            norm=norm, output_init_scale=output_init_scale, dtype=dtype,
            outputs=self.adapter.outputs(levels),
        )
        return HybridParams(physics, net)

    # -- stepping -----------------------------------------------------------------
    def correction(self, net: ConvCorrector, fields: dict) -> dict:
        """Corrector tendency (field units per second), interior tiles, 0 on land;
        conserved fields (ssh, tracers) as the divergence of learned fluxes."""
        adapter = self.adapter
        if self.corrector_inputs == "geography":
            fields = jax.tree.map(jnp.zeros_like, fields)
        centre = net(adapter.inputs(fields), self.forcing, self.mask,
                     adapter.centre_masks(), self.halo)
        return adapter.tendencies(centre)

    def step(self, state, params: HybridParams):
        """One hybrid step (``cadence`` physics steps); pure, jit-able."""
        model, net = self.model, params.corrector
        if net is None:
            return model.advance(state, params.physics, self.cadence)
        if self.coupling == "unified":
            h = self.halo.width

            def corr(fields):  # tendency tiles with a zero halo, as the core expects
                c = self.correction(net, fields)
                return {n: with_halo(c[n], h) for n in c}

            return model.step(state, params.physics, correction=corr)
        tendency = self.correction(net, state.fields)
        if self.physics_core:
            state = model.advance(state, params.physics, self.cadence)
        else:
            state = state.replace(step=state.step + self.cadence)
        fields = model.fields(state)
        return model.with_fields(
            state, {n: fields[n] + self.dt * tendency[n] for n in self.names}
        )

    def advance(self, state, params: HybridParams, n_steps: int):
        """``n_steps`` hybrid steps with lax.scan."""
        return solver.rollout(lambda s: self.step(s, params), state, n_steps)


def filter_spec(params: HybridParams, physics: bool, corrector: bool):
    """Which leaves train: physics parameters and/or network weights (normaliser
    statistics never)."""
    phys = jax.tree.map(lambda x: physics and eqx.is_inexact_array(x), params.physics)
    net = None
    if params.corrector is not None:
        net = trainable_filter(params.corrector)
        if not corrector:
            net = jax.tree.map(lambda _: False, net)
    return HybridParams(phys, net)
