"""Tile-local convolutional corrector: (state, forcing) -> tendency correction."""

from __future__ import annotations

import math
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp

from neuralogcm_hpc.parallel.halo import Halo, interior, with_halo

Fields = Mapping[str, jax.Array]
# Default cap on the corrector output, in tendency stds of the data: 3 std covers
# 99.7 % of a Gaussian tendency, more than a correction of the physics should need.
OUTPUT_BOUND = 3.0


class Normaliser(eqx.Module):
    """Fixed affine maps: inputs ``(x - mean) / std`` per channel; outputs ``* scale``.

    The statistics are data, not weights: ``trainable_filter`` leaves them frozen.
    """

    in_mean: jax.Array  # (channels_in,) in the units of each input channel
    in_std: jax.Array  # (channels_in,) same units, > 0
    out_scale: jax.Array  # (channels_out,) tendency units (field units s-1)


def _channels(spec: tuple[tuple[str, int], ...]) -> int:
    return sum(levels for _, levels in spec)


class ConvCorrector(eqx.Module):
    """Residual CNN ``c = s * mask * B tanh(H(R_L(...R_1(L(norm(x))))) / B)`` on a tile.

    ``L`` lifts the normalised inputs (every level of every prognostic field and
    every forcing field as a channel, plus the land mask) to ``width`` channels with
    a 3x3 VALID convolution; each residual block ``R(h) = crop(h) + gelu(conv3x3(h))``
    consumes one more halo cell; the 1x1 head ``H`` maps to one channel per output
    level, scaled by the per-channel tendency scale ``s``. The receptive field is
    ``depth`` cells in each direction. VALID convolutions read halo cells instead of
    padding, so a tile computes exactly what the global network computes on its
    cells; when the halo is used up the features are halo-exchanged again (one
    exchange per ``halo.width`` layers after the first ``halo.width``). The head's
    weights start at ``output_init_scale`` times the usual initialisation and its
    bias at zero, so an untrained corrector adds almost nothing to the physics.
    ``B tanh(. / B)`` (``output_bound``, in units of ``s``, the data's tendency
    std) is the identity for small outputs and caps the correction at ``B s``: a
    free run that drifts out of the training distribution then meets a bounded
    correction instead of an extrapolating linear head (the training benchmark's
    unbounded hybrid diverged within 10 days). ``output_bound = 0``: no cap.
    """

    lift: eqx.nn.Conv2d
    blocks: tuple[eqx.nn.Conv2d, ...]
    head: eqx.nn.Conv2d
    norm: Normaliser
    inputs: tuple[tuple[str, int], ...] = eqx.field(static=True)
    forcings: tuple[tuple[str, int], ...] = eqx.field(static=True)
    outputs: tuple[tuple[str, int], ...] = eqx.field(static=True)
    output_bound: float = eqx.field(static=True)

    def __init__(
        self,
        inputs: tuple[tuple[str, int], ...],
        forcings: tuple[tuple[str, int], ...],
        width: int,
        depth: int,
        key: jax.Array,
        norm: Normaliser | None = None,
        output_init_scale: float = 1e-3,
        dtype=jnp.float64,
        output_bound: float = OUTPUT_BOUND,
        outputs: tuple[tuple[str, int], ...] | None = None,
    ):
        """``inputs``/``forcings``/``outputs``: ``(name, levels)`` channels;
        ``outputs`` defaults to ``inputs`` (one tendency per input field)."""
        if depth < 1 or width < 1:
            raise ValueError(f"corrector depth and width must be >= 1, got {depth}, "
                             f"{width}; set train.depth / train.width")
        if output_bound < 0:
            raise ValueError(f"output_bound must be >= 0 (0 = no cap), got "
                             f"{output_bound}")
        self.inputs, self.forcings = inputs, forcings
        self.outputs = inputs if outputs is None else outputs
        self.output_bound = float(output_bound)
        c_in = _channels(inputs) + _channels(forcings) + 1  # + land mask
        c_out = _channels(self.outputs)
        keys = jax.random.split(key, depth + 1)
        self.lift = eqx.nn.Conv2d(c_in, width, 3, key=keys[0], dtype=dtype)
        self.blocks = tuple(
            eqx.nn.Conv2d(width, width, 3, key=k, dtype=dtype) for k in keys[1:depth]
        )
        head = eqx.nn.Conv2d(width, c_out, 1, key=keys[depth], dtype=dtype)
        head = eqx.tree_at(lambda m: m.weight, head, head.weight * output_init_scale)
        self.head = eqx.tree_at(lambda m: m.bias, head, jnp.zeros_like(head.bias))
        ones = jnp.ones(c_in - 1, dtype)
        self.norm = norm or Normaliser(0 * ones, ones, jnp.ones(c_out, dtype))

    @property
    def depth(self) -> int:
        """Receptive-field radius in cells (one per 3x3 layer)."""
        return 1 + len(self.blocks)

    def exchanges(self, halo_width: int) -> int:
        """Feature halo exchanges per call (the inputs arrive with halos filled)."""
        return max(0, math.ceil(self.depth / halo_width) - 1)

    def __call__(
        self,
        fields: Fields,
        forcing: Fields,
        mask: jax.Array,
        out_masks: Fields,
        halo: Halo,
    ) -> dict[str, jax.Array]:
        """Correction per output channel, INTERIOR tiles, zero on land.

        ``fields``/``forcing``: tiles with filled halos of ``halo.width`` cells,
        2-D ``(y, x)`` or 3-D ``(levels, y, x)``; ``mask``: the cell-centre wet mask
        tile with halo (1 ocean, 0 land); ``out_masks``: interior wet mask of each
        output channel at its own C-grid position; a 3-D mask keeps the levels
        axis.
        """
        width = halo.width
        x = jnp.concatenate(
            [_as_channels(fields[n], levels) for n, levels in self.inputs]
            + [_as_channels(forcing[n], levels) for n, levels in self.forcings]
        )
        x = (x - self.norm.in_mean[:, None, None]) / self.norm.in_std[:, None, None]
        x = jnp.concatenate([x * mask, mask[None]])
        margin = width
        h = self.lift(x)
        margin -= 1
        for conv in self.blocks:
            if margin == 0:  # halo used up: refill it from the neighbours
                h = halo(with_halo(h, width))
                margin = width
            h = h[:, 1:-1, 1:-1] + jax.nn.gelu(conv(h))
            margin -= 1
        h = interior(jax.nn.gelu(h), margin)
        out = self.head(h)
        if self.output_bound:
            out = self.output_bound * jnp.tanh(out / self.output_bound)
        out = out * self.norm.out_scale[:, None, None]
        result, start = {}, 0
        for name, levels in self.outputs:
            part = out[start : start + levels]
            part = part if out_masks[name].ndim == 3 else part[0]
            result[name] = part * out_masks[name]
            start += levels
        return result


def _as_channels(x: jax.Array, levels: int) -> jax.Array:
    if x.ndim == 2:
        x = x[None]
    if x.shape[0] != levels:
        raise ValueError(f"expected {levels} level(s), got an array of shape {x.shape}")
    return x


def trainable_filter(corrector: ConvCorrector):
    """Filter spec: True for network weights, False for the frozen normaliser."""
    spec = jax.tree.map(eqx.is_inexact_array, corrector)
    return eqx.tree_at(lambda c: c.norm, spec, jax.tree.map(lambda _: False, spec.norm))
