"""The time loop: jitted chunks of steps, guard, output, checkpoints, progress."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.config import Config, ConfigError, to_dict
from neuralogcm_hpc.config_check import check_resume
from neuralogcm_hpc.errors import collective_errors
from neuralogcm_hpc.io import pytree
from neuralogcm_hpc.parallel.context import ParallelContext


@dataclasses.dataclass
class RunResult:
    """What a finished (or gracefully stopped) segment reports."""

    step: int  # absolute model step of the final state
    steps: int  # steps taken in this segment
    wall_seconds: float
    state_sha256: str
    stopped_early: bool
    diagnostics: dict[str, float]


class Simulation:
    """Runs a model from a cold start or the newest valid checkpoint.

    The loop advances ``time.steps_per_call`` steps per jitted call (the state
    buffers are donated, so they are updated in place), then checks the model's
    health (NaN/Inf, CFL) and stops with a StabilityError naming step, field and
    location; applies the output schedule; writes checkpoints on schedule, at the
    end, and when SIGTERM/SIGUSR1 asks for a graceful stop.

    ``params_path``: a training checkpoint directory; the loop then steps the
    hybrid model (trained physics parameters + corrector, ``cadence`` model steps
    per hybrid step) instead of the bare core. Steps still count model steps.
    Checkpoints record which trained parameters (manifest sha256) were used, and a
    resume must be given the same ones.

    ``resume``: True = from the newest valid checkpoint (an error if none), False =
    fresh (an error if the directory holds checkpoints), "auto" = resume when the
    directory holds a committed checkpoint, else fresh (``--until-*``). A resume
    whose solution-changing settings differ from the checkpoint's is refused
    unless ``allow_config_change`` (neuralogcm_hpc/config_check.py).
    """

    def __init__(
        self,
        config: Config,
        context: ParallelContext,
        *,
        resume: bool | str = False,
        log: Callable[[str], None] = print,
        params_path: str | None = None,
        overwrite: bool = False,
        allow_config_change: bool = False,
    ):
        from neuralogcm_hpc.cases import build_model

        self.config, self.context, self.resume = config, context, resume
        self.overwrite = overwrite  # a fresh run may replace an existing store
        self.allow_config_change = allow_config_change
        self.log = log if context.is_root else (lambda message: None)
        self.model = build_model(config, context)
        self.params = self.model.default_params()
        self.stepper, self.trained = None, None  # hybrid model, its source
        if params_path:
            from neuralogcm_hpc.trained import open_trained

            trained = open_trained(params_path, self.model, context)
            self.stepper, self.params = trained.hybrid, trained.params
            self.trained = trained.source
            _check_cadence(config, trained.hybrid.cadence)
        self.checkpointer = self._make_checkpointer()

    # -- public ------------------------------------------------------------------
    def run(self, steps: int | None, until: int | None = None) -> RunResult:
        """Advance ``steps`` model steps from the start (or resumed) state; with
        ``until``, up to absolute step ``until`` (at most ``steps`` if given).
        A target already reached writes nothing and reports the state as found."""
        writer = None
        try:
            state, restored = self._start_state()
            start = int(state.step)
            steps = self._segment(start, steps, until)
            if until is not None and start >= until:
                self.log(f"step {start} reaches the target step {until}: nothing to do")
                return self._result(state, start, 0.0, False)
            writer = self._make_writer(start, restored)
            result = self._loop(state, writer, steps)
        except collective_errors():  # alike on every rank: flush what was written
            if writer is not None:
                writer.close()
            raise
        except BaseException:
            # maybe this rank's alone: a collective call here would wait forever
            # for ranks that never come; the caller aborts the job instead
            if writer is not None:
                writer.abandon()
            raise
        else:
            if writer is not None:
                writer.close()
        finally:
            if self.checkpointer is not None:
                self.checkpointer.release()
        return result

    def _segment(self, start: int, steps: int | None, until: int | None) -> int:
        """Steps of this segment: ``steps``, or up to the target step ``until``
        (capped by ``steps``); whole hybrid steps with trained parameters."""
        if until is None:
            return steps
        left = max(until - start, 0)
        steps = left if steps is None else min(steps, left)
        if self.stepper is not None and steps % self.stepper.cadence:
            raise ConfigError(
                f"the trained model corrects every {self.stepper.cadence} model "
                f"steps; from step {start}, the target step {until} and --steps "
                f"give {steps} steps, not a multiple of it"
            )
        return steps

    def _loop(self, state, writer, steps: int) -> RunResult:
        from neuralogcm_hpc.io.signals import GracefulStop

        start = int(state.step)
        if writer is not None:
            writer.update(start, self.model.fields(state))
        cfg = self.config
        events = [
            e
            for e in (cfg.output.every, cfg.output.average_every, cfg.checkpoint.every)
            if e
        ]
        advance = self._compiled_advance()
        stop = GracefulStop(self.context).install()
        t0 = time.perf_counter()
        progress = _Progress(self.log, start, steps, self.model.dt)
        step, stopped_early = start, False
        try:
            while step < start + steps:
                n = _chunk(step, start + steps, cfg.time.steps_per_call, events)
                state, health = advance(n)(state, self.params)
                step += n
                self.model.check(health, step)
                if writer is not None:
                    writer.update(step, self.model.fields(state))
                progress.report(step)
                if stop.requested():
                    self.log(f"stop requested at step {step}: writing a checkpoint")
                    stopped_early = True
                    break
                every = cfg.checkpoint.every
                if every and step % every == 0 and step < start + steps:
                    self._save(state, writer)
            if writer is not None:
                writer.write(step, self.model.fields(state))
            self._save(state, writer)
        finally:
            stop.uninstall()
        return self._result(state, start, time.perf_counter() - t0, stopped_early)

    def _result(self, state, start: int, wall: float, stopped_early: bool):
        diagnostics = {
            k: float(v) for k, v in jax.jit(self.model.diagnostics)(state).items()
        }
        return RunResult(
            step=int(state.step),
            steps=int(state.step) - start,
            wall_seconds=wall,
            state_sha256=state_checksum(
                self.model.fields(state), self.model.decomposition, self.context
            ),
            stopped_early=stopped_early,
            diagnostics=diagnostics,
        )

    # -- pieces --------------------------------------------------------------------
    def _compiled_advance(self):
        cache = {}

        def advance(n: int):
            if n not in cache:

                def chunk(state, params):
                    if self.stepper is None:
                        state = self.model.advance(state, params, n)
                    else:  # whole hybrid steps: _check_cadence makes n a multiple
                        state = self.stepper.advance(
                            state, params, n // self.stepper.cadence
                        )
                    return state, self.model.health(state)

                cache[n] = jax.jit(chunk, donate_argnums=0)
            return cache[n]

        return advance

    def _start_state(self):
        state = self.model.initial_state()
        if self.checkpointer is None:
            if self.resume:
                raise ConfigError(
                    "--resume needs a checkpoint directory: pass --checkpoint-dir "
                    "or set checkpoint.dir"
                )
            return state, None
        if self.resume == "auto":  # one rank's listing decides for all
            found = self.context.is_root and bool(self.checkpointer.committed())
            self.resume = self.context.bcast(found)
        # rank 0 locks and looks for old checkpoints, for all ranks
        self.checkpointer.claim(self.resume)
        if not self.resume:
            return state, None
        restored = self.checkpointer.load_latest(required=True)
        self._check_same_params(restored)
        check_resume(
            restored.metadata.get("config", {}),
            to_dict(self.config),
            str(restored.path),
            allow=self.allow_config_change,
            log=self.log,
        )
        self.log(f"resuming from {restored.path} (step {restored.step})")
        return self._restore(state, restored), restored

    def _tiled(self, state) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The state's tile-shaped arrays (halos stripped, global-indexed) and its
        replicated ones: scalar integrator memory (e.g. AB2's ``started`` flag)
        is the same on every rank, so it is stored once, not per tile."""
        g = self.model.grid
        tiled = {
            f"fields.{n}": np.asarray(v) for n, v in self.model.fields(state).items()
        }
        replicated = {}
        for name, value in pytree.named_leaves("memory", state.memory, "path"):
            if np.ndim(value) >= 2:
                tiled[name] = np.asarray(g.interior(value))
            else:
                replicated[name] = np.asarray(value)
        return tiled, replicated

    def _restore(self, state, restored):
        g = self.model.grid
        fields = {n: jnp.asarray(restored.tiled[f"fields.{n}"]) for n in state.fields}
        state = self.model.with_fields(state, fields)
        memory_names = dict(pytree.named_leaves("memory", state.memory, "path"))
        memory = state.memory
        if self._memory_stored(restored, memory_names):
            # Tiled memory (e.g. the previous step's tendencies) comes back with
            # its halos refilled from the neighbours, as a step leaves them: the
            # PE step reads them in the halo, so zero halos would change the
            # result after a restart on another rank count.
            tiled = {
                n: g.pad(jnp.asarray(restored.tiled[n]))
                for n in memory_names
                if n in restored.tiled
            }
            tiled = self.model.halo.tree(tiled)
            arrays = {n: tiled.get(n, restored.replicated.get(n)) for n in memory_names}
            memory = pytree.tree_from_arrays("memory", state.memory, arrays, "path")
        return state.replace(
            memory=memory,
            step=jnp.asarray(restored.replicated["step"], jnp.int64),
            key=jnp.asarray(restored.replicated["key"]),
        )

    def _memory_stored(self, restored, names) -> bool:
        """Whether the checkpoint holds this integrator's memory. A checkpoint of
        another integrator (a change --allow-config-change let through) has not:
        the new one then starts its multistep history afresh, as a cold start."""
        from neuralogcm_hpc.io.checkpoint import CheckpointError

        missing = set(names) - {*restored.tiled, *restored.replicated}
        if not missing:
            return True
        was = restored.metadata.get("config", {}).get("time", {}).get("integrator")
        now = self.config.time.integrator
        if was == now:
            raise CheckpointError(
                f"{restored.path} lacks the {now} memory {', '.join(sorted(missing))}"
            )
        self.log(f"{restored.path} holds {was} memory: {now} restarts its history")
        return False

    def _save(self, state, writer) -> None:
        if self.checkpointer is None:
            return
        tiled, replicated = self._tiled(state)
        if writer is not None:
            mean_tiled, mean_replicated = writer.checkpoint_state()
            tiled.update({f"output.{k}": v for k, v in mean_tiled.items()})
            replicated.update({f"output.{k}": v for k, v in mean_replicated.items()})
        replicated["step"] = np.asarray(int(state.step), np.int64)
        replicated["key"] = np.asarray(state.key)
        name = self.checkpointer.save(
            int(state.step),
            tiled,
            replicated,
            {"config": to_dict(self.config), "trained_params": self.trained},
        )
        self.log(f"checkpoint {name} written")

    def _check_same_params(self, restored) -> None:
        """A resumed run must step the model it started with."""
        was = restored.metadata.get("trained_params")
        if _identity(was) == _identity(self.trained):
            return
        if was is None:
            raise ConfigError(
                f"{restored.path} was written by a physics-only run; resume it "
                "without --params (or start a new run in another --checkpoint-dir)"
            )
        if self.trained is None:
            raise ConfigError(
                f"{restored.path} was written by a hybrid run with --params "
                f"{was['path']}; pass --params {was['path']} again to resume it"
            )
        raise ConfigError(
            f"{restored.path} was written with trained parameters "
            f"{was['path']} ({was['checkpoint']}, manifest "
            f"{was['manifest_sha256'][:12]}), but --params {self.trained['path']} "
            f"gives {self.trained['checkpoint']} (manifest "
            f"{self.trained['manifest_sha256'][:12]}); pass the original parameters "
            "or start a new run in another --checkpoint-dir"
        )

    def _make_checkpointer(self):
        directory = self.config.checkpoint.dir
        if not directory:
            return None
        from neuralogcm_hpc.io.checkpoint import Checkpointer

        return Checkpointer(
            directory,
            self.model.decomposition,
            self.context,
            self.config.checkpoint.keep,
        )

    def _make_writer(self, start: int, restored):
        cfg = self.config
        if not cfg.output.path:
            return None
        from neuralogcm_hpc.io.variables import output_coordinates, output_variables
        from neuralogcm_hpc.io.zarr_writer import OutputWriter

        g = self.model.grid
        # which trained parameters a hybrid run used (absent for the bare core)
        trained = {"trained_params": json.dumps(self.trained)} if self.trained else {}
        writer = OutputWriter(
            cfg.output.path,
            self.model.decomposition,
            self.context,
            output_variables(self.model.prognostic_names, g.nz, cfg.precision),
            output_coordinates(cfg, np.asarray(g.z_centre)),
            self.model.dt,
            attrs={"config": cfg.to_json(), "case": cfg.case, **trained},
            codec=cfg.output.codec,
            records_per_block=cfg.output.records_per_block,
            snapshot_every=cfg.output.every,
            average_every=cfg.output.average_every,
            mode="a" if restored is not None else "w",
            overwrite=self.overwrite,
            resume_step=start,
        )
        if restored is not None:
            writer.restore_average_state(
                _with_prefix(restored.tiled, "output."),
                _with_prefix(restored.replicated, "output."),
            )
        return writer


def _identity(source: dict | None) -> str | None:
    return None if source is None else source["manifest_sha256"]


def _check_cadence(config: Config, cadence: int) -> None:
    """A hybrid step is ``cadence`` model steps: every step count the loop stops
    at must be a whole number of hybrid steps."""
    counts = {
        "time.steps (--steps/--days)": config.time.steps,
        "time.steps_per_call": config.time.steps_per_call,
        "output.every": config.output.every,
        "output.average_every": config.output.average_every,
        "checkpoint.every": config.checkpoint.every,
    }
    bad = [f"{k}={v}" for k, v in counts.items() if v % cadence]
    if bad:
        raise ConfigError(
            f"the trained model corrects every {cadence} model steps "
            f"(train.cadence); {', '.join(bad)} must be multiples of {cadence}"
        )


def _with_prefix(arrays: dict, prefix: str) -> dict:
    """The entries named ``prefix...``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _chunk(step: int, end: int, per_call: int, events: list[int]) -> int:
    """Steps in the next call: at most ``per_call``, never past the end or an
    output/checkpoint event (so schedules land exactly on their steps)."""
    n = min(per_call, end - step)
    for every in events:
        n = min(n, every - step % every)
    return n


def state_checksum(fields: dict, decomposition, context: ParallelContext) -> str:
    """The SUMMARY ``state_sha256``: parallel/digest.py's layout-invariant digest
    (per-global-row sha256s combined in global order; no field is gathered)."""
    from neuralogcm_hpc.parallel.digest import global_digest

    return global_digest(fields, decomposition, context)


class _Progress:
    """Rank-0 progress lines about every 10% of the run or 30 s of wall time."""

    def __init__(self, log, start: int, steps: int, dt: float):
        self.log, self.start, self.steps, self.dt = log, start, steps, dt
        self.t0 = self.last = time.perf_counter()
        self.next_fraction = 0.1

    def report(self, step: int) -> None:
        now = time.perf_counter()
        done = (step - self.start) / max(self.steps, 1)
        if done < self.next_fraction and now - self.last < 30 and done < 1:
            return
        self.last = now
        self.next_fraction = math.floor(done * 10 + 1) / 10
        rate = (step - self.start) / max(now - self.t0, 1e-9)
        eta = (self.start + self.steps - step) / max(rate, 1e-9)
        self.log(
            f"step {step} ({100 * done:.0f}%), day {step * self.dt / 86400:.3f}, "
            f"{rate:.1f} steps/s, eta {eta:.0f} s"
        )
