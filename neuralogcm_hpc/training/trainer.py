"""The optax training loop: rollout gradients summed over ranks, identical params."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from neuralogcm_hpc.config import ConfigError, to_dict
from neuralogcm_hpc.config_check import TRAIN_FREE, check_resume
from neuralogcm_hpc.io.checkpoint import Checkpointer
from neuralogcm_hpc.io.signals import GracefulStop
from neuralogcm_hpc.model import HybridModel, HybridParams, filter_spec
from neuralogcm_hpc.parallel.reductions import fast_sum, global_sum, ordered_sum
from neuralogcm_hpc.training import checkpoints, evaluate
from neuralogcm_hpc.training.data import TileDataset, generate, read_tiles, split_path
from neuralogcm_hpc.training.loss import (
    LossSpec,
    cell_weights,
    rollout_loss,
    step_loss,
)
from neuralogcm_hpc.training.normalise import corrector_normaliser, field_stats


class DivergedParamsError(RuntimeError):
    """Ranks hold different parameters (they must be identical after every step)."""


@dataclasses.dataclass
class TrainState:
    """Everything a resumed training needs: ``step`` is also the data position
    (the batch of step n is a pure function of (seed, n, rollout length))."""

    trainable: HybridParams  # trainable leaves (others None)
    opt_state: tuple  # (network AdamW state, physics Adam state)
    step: int


def _schedule(peak: float, t, total: int) -> optax.Schedule:
    warmup = min(t.warmup_steps, max(total - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        0.0 if warmup else peak, peak, warmup, max(total, warmup + 1),
        peak * t.final_lr_fraction,
    )


def _update(optimiser, grads, opt_state, params):
    """optax update; a part with nothing trainable (all None) stays as it is."""
    if not jax.tree.leaves(params):
        return grads, opt_state
    return optimiser.update(grads, opt_state, params)


def _is_field(leaf) -> bool:
    return leaf.ndim >= 2


def tiled_mask(tree: HybridParams) -> HybridParams:
    """True for per-tile leaves: physics parameter FIELDS (interior (.., ny_t,
    nx_t)). Scalars, per-level vectors and every network weight are replicated."""
    return HybridParams(jax.tree.map(_is_field, tree.physics),
                        jax.tree.map(lambda _: False, tree.corrector))


class Trainer:
    """Trains ``HybridParams`` on a TileDataset by multi-step rollouts.

    Every rank runs the same windows on its own tile (domain decomposition, not
    data parallelism). Each rank differentiates its share of the loss; the halo
    exchange's adjoint carries cotangents between tiles, so summing the replicated
    leaves' gradients over ranks gives the exact global gradient. The sum is an
    allgather followed by a sum in rank order, identical on every rank, so every
    rank applies the same update and parameters stay bit-identical (checked by
    hashing every ``train.check_every`` steps). Gradients of per-tile parameter
    fields stay on their tile. The global gradient norm for clipping uses the
    reproducible global sum, so clipping is also rank-identical.
    """

    def __init__(self, config, context, hybrid: HybridModel, params: HybridParams,
                 data: TileDataset, stats, val: TileDataset | None = None):
        t = config.train
        self.config, self.t, self.context, self.hybrid = config, t, context, hybrid
        self.data, self.val = data, val
        spec = filter_spec(params, t.train_physics, t.train_corrector)
        self.trainable0, self.static = eqx.partition(params, spec)
        if not jax.tree.leaves(self.trainable0):
            raise ValueError("nothing to train: train.train_physics and "
                             "train.train_corrector are both off (or no corrector)")
        self.loss_spec = LossSpec.build(hybrid, stats, context, t.volume_penalty)
        self.template = hybrid.model.initial_state()
        self.net_opt = optax.adamw(_schedule(t.learning_rate, t, t.steps),
                                   weight_decay=t.weight_decay)
        self.phys_opt = optax.adam(_schedule(t.physics_learning_rate, t, t.steps))
        self._steps: dict[int, object] = {}
        self._evals: dict[int, object] = {}

    # -- state ---------------------------------------------------------------------
    def init_state(self) -> TrainState:
        # a copy: the compiled step donates its inputs, trainable0 must survive
        tr = jax.tree.map(jnp.copy, self.trainable0)
        return TrainState(tr, (self.net_opt.init(tr.corrector),
                               self.phys_opt.init(tr.physics)), 0)

    def params(self, state: TrainState) -> HybridParams:
        return eqx.combine(state.trainable, self.static)

    def rollout_length(self, step: int) -> int:
        t = self.t
        if not t.curriculum_start or step >= t.curriculum_steps:
            return t.rollout
        grow = (t.rollout - t.curriculum_start) * step / max(t.curriculum_steps, 1)
        return t.curriculum_start + int(grow)

    def segment(self, length: int) -> int:
        if self.t.remat_segment < 0:
            return 0
        if self.t.remat_segment:
            return self.t.remat_segment
        # largest divisor of the rollout not above sqrt(R): O(sqrt R) memory
        return max(d for d in range(1, int(math.isqrt(length)) + 1) if length % d == 0)

    def batch(self, step: int, length: int) -> np.ndarray:
        """(trajectory, start) windows of step ``step``: a pure function of the
        seed and the step, so a resumed run draws exactly the same batches."""
        windows = self.data.windows(length)
        rng = np.random.default_rng([self.config.seed, step, length])
        size = min(self.t.batch, len(windows))
        return windows[rng.choice(len(windows), size=size, replace=False)]

    def _start_steps(self, data: TileDataset, picks: np.ndarray) -> jax.Array:
        """Model step of each window's first snapshot (data.start_time; 0 without
        it), so time-varying forcing is read at the data's own times."""
        seconds = [data.time_of(int(tr), int(s)) for tr, s in picks]
        return jnp.asarray(np.rint(np.array(seconds) / self.hybrid.model.dt), jnp.int64)

    def _stack(self, data: TileDataset, picks: np.ndarray, length: int):
        pairs = [data.window(int(tr), int(s), length) for tr, s in picks]
        first = {n: jnp.asarray(np.stack([p[0][n] for p in pairs]))
                 for n in pairs[0][0]}
        targets = {n: jnp.asarray(np.stack([p[1][n] for p in pairs]))
                   for n in pairs[0][1]}
        return first, targets

    # -- the compiled step ---------------------------------------------------------
    def _batch_loss(self, trainable, first, targets, segment, steps=None):
        params = eqx.combine(trainable, self.static)
        model = self.hybrid.model
        n = next(iter(first.values())).shape[0]
        steps = jnp.zeros(n, jnp.int64) if steps is None else steps

        def one(acc, sample):
            f0, tgt, step = sample
            state = model.with_fields(self.template, f0).replace(step=step)
            out = rollout_loss(self.hybrid, params, state, tgt, self.loss_spec,
                               self.context, segment)
            return jax.tree.map(jnp.add, acc, out), None

        zero = (jnp.zeros(()), (jnp.zeros(()), jnp.zeros(())))
        total, _ = jax.lax.scan(one, zero, (first, targets, steps))
        return jax.tree.map(lambda x: x / n, total)

    def _sum_over_ranks(self, grads: HybridParams) -> HybridParams:
        """Replicated leaves: sum over ranks in rank order (same bits everywhere)."""
        if self.context.size == 1:
            return grads
        tiled = tiled_mask(grads)
        replicated = jax.tree.map(lambda g, t: None if t else g, grads, tiled)
        flat, unravel = ravel_pytree(replicated)
        summed = jax.tree.leaves(unravel(ordered_sum(flat, self.context)))[::-1]
        return jax.tree.map(lambda g, t: g if t else summed.pop(), grads, tiled)

    def _clip(self, grads):
        if not self.t.clip_norm:
            return grads, jnp.zeros(())
        sq_rep, sq_tiled = jnp.zeros(()), jnp.zeros(())
        tiled = jax.tree.leaves(tiled_mask(grads))
        for g, is_tiled in zip(jax.tree.leaves(grads), tiled, strict=True):
            if is_tiled:
                sq_tiled = sq_tiled + jnp.sum(g**2)
            else:
                sq_rep = sq_rep + jnp.sum(g**2)
        norm = jnp.sqrt(sq_rep + global_sum(sq_tiled, self.context))
        scale = jnp.minimum(1.0, self.t.clip_norm / jnp.maximum(norm, 1e-300))
        return jax.tree.map(lambda g: g * scale, grads), norm

    def _step_fn(self, segment: int):
        def step(trainable, opt_state, first, targets, steps=None):
            grad_fn = jax.grad(self._batch_loss, has_aux=True)
            grads, (mse, penalty) = grad_fn(trainable, first, targets, segment, steps)
            grads, norm = self._clip(self._sum_over_ranks(grads))
            net_up, net_state = _update(self.net_opt, grads.corrector, opt_state[0],
                                        trainable.corrector)
            phys_up, phys_state = _update(self.phys_opt, grads.physics, opt_state[1],
                                          trainable.physics)
            trainable = optax.apply_updates(trainable, HybridParams(phys_up, net_up))
            loss = fast_sum(mse, self.context) + penalty
            return trainable, (net_state, phys_state), {"loss": loss, "gnorm": norm}

        return jax.jit(step, donate_argnums=(0, 1))

    def train_step(self, state: TrainState) -> tuple[TrainState, dict]:
        """One optimisation step (collective)."""
        length = self.rollout_length(state.step)
        picks = self.batch(state.step, length)
        first, targets = self._stack(self.data, picks, length)
        if length not in self._steps:
            self._steps[length] = self._step_fn(self.segment(length))
        trainable, opt_state, metrics = self._steps[length](
            state.trainable, state.opt_state, first, targets,
            self._start_steps(self.data, picks))
        return TrainState(trainable, opt_state, state.step + 1), metrics

    def evaluate(self, state: TrainState, data: TileDataset, length: int) -> float:
        """Normalised MSE over every ``length``-step window of ``data`` (global)."""
        picks = data.windows(length)
        if length not in self._evals:
            self._evals[length] = jax.jit(
                lambda tr, f, t, s: fast_sum(self._batch_loss(tr, f, t, 0, s)[1][0],
                                             self.context))
        first, targets = self._stack(data, picks, length)
        return float(self._evals[length](state.trainable, first, targets,
                                         self._start_steps(data, picks)))

    def forecast_error(self, state: TrainState, data: TileDataset, lead: int) -> float:
        """Normalised MSE (the loss's weights) of free runs ``lead`` hybrid steps
        long from the first snapshot of every trajectory of ``data`` (global; inf
        when a run diverged): a validation score at a long lead for early
        stopping, where a short rollout loss cannot see slow drift."""
        if ("free", lead) not in self._evals:
            model = self.hybrid.model

            def error(trainable, first, truth, steps):
                params = eqx.combine(trainable, self.static)

                def one(sample):
                    state = model.with_fields(self.template, sample[0])
                    state = state.replace(step=sample[2])
                    fields = model.fields(self.hybrid.advance(state, params, lead))
                    return step_loss(self.loss_spec, fields, sample[1],
                                     self.context)[0]

                # a NaN anywhere survives the sum, so every rank sees it
                return fast_sum(jnp.mean(jax.lax.map(one, (first, truth, steps))),
                                self.context)

            self._evals["free", lead] = jax.jit(error)
        first = {n: jnp.asarray(x[:, 0]) for n, x in data.fields.items()}
        truth = {n: jnp.asarray(x[:, lead]) for n, x in data.fields.items()}
        starts = np.array([(t, 0) for t in range(data.shape[0])])
        value = float(self._evals["free", lead](state.trainable, first, truth,
                                                self._start_steps(data, starts)))
        return value if math.isfinite(value) else math.inf

    # -- cross-rank agreement ------------------------------------------------------
    def params_hash(self, state: TrainState) -> str:
        """sha256 of the replicated trainable leaves (tile fields differ by rank)."""
        digest = hashlib.sha256()
        tiled = jax.tree.leaves(tiled_mask(state.trainable))
        for leaf, is_tiled in zip(jax.tree.leaves(state.trainable), tiled, strict=True):
            if not is_tiled:
                digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
        return digest.hexdigest()

    def check_identical(self, state: TrainState) -> None:
        mine = self.params_hash(state)
        hashes = self.context.allgather(mine)
        if len(set(hashes)) != 1:
            raise DivergedParamsError(
                f"step {state.step}: parameter hashes differ across ranks "
                f"({', '.join(h[:12] for h in hashes)}); the gradient sum is not "
                "rank-identical - report this as a bug"
            )


def evaluate_test(trainer: Trainer, state: TrainState, path) -> dict:
    """Physics-only (initial physics parameters, no corrector) vs the trained
    hybrid on the test trajectories at ``train.eval_leads`` days; persistence
    and the training period's mean per cell (climatology) as references."""
    model, t = trainer.hybrid.model, trainer.t
    test = read_tiles(path, model.prognostic_names, model.decomposition,
                      trainer.context.rank)
    initial = trainer.params(trainer.init_state())
    baseline = HybridParams(initial.physics, None)
    leads = [float(d) for d in t.eval_leads.split(",")]
    stats = field_stats(trainer.data, cell_weights(trainer.hybrid), trainer.context)
    climatology = {n: x.mean(axis=(0, 1)) for n, x in trainer.data.fields.items()}
    return evaluate.compare(trainer.hybrid, trainer.params(state), baseline, test,
                            leads, stats, trainer.context, climatology=climatology)


# -- command line: ``python -m neuralogcm_hpc.run train`` ---------------------------
def build(config, context, data_dir: str | Path):
    """(trainer, fresh TrainState, validation data) for ``config`` on this rank,
    generating the training data first when ``data_dir`` has none."""
    from neuralogcm_hpc.cases import build_model

    t, data_dir = config.train, Path(data_dir)
    if context.bcast(not split_path(data_dir, "train").exists()):  # rank 0 decides
        generate(config, context, data_dir, build_model)
    model = build_model(config, context)
    hybrid = HybridModel.from_config(model, t)
    read = lambda split: read_tiles(split_path(data_dir, split),  # noqa: E731
                                    model.prognostic_names, model.decomposition,
                                    context.rank)
    train, val = read("train"), read("val")
    stats = field_stats(train, cell_weights(hybrid), context)
    norm = corrector_normaliser(stats, hybrid, context) if t.use_corrector else None
    params = hybrid.init_params(model.default_params(), jax.random.key(config.seed),
                                t.width, t.depth, norm, t.output_init_scale,
                                t.use_corrector)
    trainer = Trainer(config, context, hybrid, params, train, stats, val)
    return trainer, trainer.init_state()


def train_main(config, context, *, checkpoint_dir: str = "", resume: bool = False,
               steps: int | None = None, log=print,
               allow_config_change: bool = False) -> dict:
    """Train ``config`` (collective; every rank calls it) and return a summary.

    ``config.train.data``: data directory (generated there when empty);
    ``checkpoint_dir`` (else ``config.checkpoint.dir``): training checkpoints every
    ``train.checkpoint_every`` steps and at the end - also the trained-model path
    that ``load_trained`` / ``simulate`` read; ``resume``: continue from the newest
    valid checkpoint there (bitwise the same as an uninterrupted run; its
    config must match, see config_check.TRAIN_FREE, unless allow_config_change);
    ``steps``: optimisation steps (default ``train.steps``). Rank 0 logs progress.
    """
    t = config.train
    if not t.data:
        raise ConfigError("set train.data to a training-data directory (it is "
                          "generated there from the physics core when empty)")
    trainer, state = build(config, context, t.data)
    directory = checkpoint_dir or config.checkpoint.dir
    ckpt = None
    if directory:
        ckpt = Checkpointer(directory, trainer.hybrid.model.decomposition, context,
                            config.checkpoint.keep)
        # locked for this run; without --resume a used directory is refused
        ckpt.claim(resume)
    try:
        return _train(config, context, trainer, state, ckpt, directory, resume,
                      steps, log, allow_config_change)
    finally:
        if ckpt is not None:
            ckpt.release()


def _train(config, context, trainer, state, ckpt, directory, resume, steps,
           log, allow_config_change: bool) -> dict:
    t = config.train
    if resume:
        if ckpt is None:
            raise ConfigError("--resume needs --checkpoint-dir or checkpoint.dir")
        restored = ckpt.load_latest(required=True)
        check_resume(restored.metadata.get("config", {}), to_dict(config),
                     str(restored.path), allow=allow_config_change, free=TRAIN_FREE,
                     log=log if context.is_root else (lambda *_: None))
        params, opt_state, step = checkpoints.restore(
            restored, trainer.params(state), state.opt_state)
        spec = filter_spec(params, t.train_physics, t.train_corrector)
        state = TrainState(eqx.partition(params, spec)[0], opt_state, step)
    total = steps if steps is not None else t.steps
    say = log if context.is_root else (lambda *_: None)
    clock, done, metrics = time.perf_counter(), 0, {}
    # SIGTERM / SIGUSR1 (Slurm's warning): checkpoint the step just finished and
    # leave the loop; --resume continues bitwise as if never stopped.
    stop, stopped = GracefulStop(context).install(), False
    try:
        while state.step < total:
            state, metrics = trainer.train_step(state)
            done += 1
            n = state.step
            if n % t.check_every == 0 or n == total:
                trainer.check_identical(state)
            if n % t.log_every == 0 or n == total:
                rate = done * t.batch / (time.perf_counter() - clock)
                say(f"step {n}/{total} loss {float(metrics['loss']):.4e} "
                    f"|g| {float(metrics['gnorm']):.3e} {rate:.2f} samples/s")
            if n % t.validate_every == 0 or n == total:
                metrics["val"] = trainer.evaluate(state, trainer.val, t.rollout)
                say(f"step {n} validation normalised MSE {metrics['val']:.4e}")
            stopped = n < total and stop.requested()
            if ckpt is not None and (stopped or n % t.checkpoint_every == 0
                                     or n == total):
                checkpoints.save(ckpt, n, trainer.params(state), state.opt_state,
                                 config)
            if stopped:
                say(f"stop requested at step {n}: "
                    + ("checkpoint written; continue with --resume" if ckpt
                       else "no --checkpoint-dir, so nothing is saved"))
                break
    finally:
        stop.uninstall()
    elapsed = time.perf_counter() - clock
    test_path = split_path(t.data, "test")
    if directory and t.eval_leads and test_path.exists() and not stopped:
        summary_path = Path(directory) / "skill"
        skill = evaluate_test(trainer, state, test_path)
        if context.is_root:
            evaluate.write_report(skill, summary_path)
            days = ", ".join(f"{d:g}" for d in skill["lead_days"])
            gains = "; ".join(
                f"{n} " + ", ".join(f"{g:+.1f}" for g in v)
                for n, v in skill["improvement_percent"].items())
            say(f"test skill at lead times of {days} days: hybrid RMSE reduction "
                f"vs physics only, % (positive = hybrid better): {gains} -> "
                f"{summary_path}.json/.png")
    summary = {"steps": state.step, "samples_per_s": done * t.batch / max(elapsed,
                                                                          1e-9),
               "params_sha256": trainer.params_hash(state), "stopped_early": stopped}
    summary.update({k: float(v) for k, v in metrics.items()})
    return summary
