"""The corrector on a C-grid: inputs at cell centres, outputs back to the faces,
and conserved fields corrected by the divergence of learned face fluxes."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from neuralogcm_hpc.parallel.halo import Halo, interior, with_halo

VELOCITY = ("u", "v")


def flux_channels(name: str) -> tuple[str, str]:
    """Output channel names of a conserved field's learned x and y face fluxes."""
    return f"{name}:flux_x", f"{name}:flux_y"


class CGridAdapter:
    """Puts a translation-equivariant network between C-grid fields.

    A 3x3 convolution treats every array index alike, but on a C-grid u[j, i]
    sits half a cell west of ssh[j, i] and v[j, i] half a cell south. So the
    network sees and predicts everything at cell CENTRES:

    - inputs: u and v averaged to centres, u_c = (u_w + u_e) / 2 (walls add 0);
      centre fields pass unchanged; one halo exchange refills the centre
      velocities' halo (the east/north average cannot reach the last halo ring);
    - velocity outputs: centre tendencies averaged back to the faces,
      du_w = (c_{i-1} + c_i) / 2 x mask_u, likewise v;
    - conserved fields (ssh; in 3-D also temp, salt): the network predicts a
      flux vector (F_x, F_y) at centres, averaged to the faces and closed by the
      face masks (no flux through walls or coasts); the correction is
      -div(F) = -(dy F_x|_w^e + dx F_y|_s^n) / area, so the sum over the basin of
      area x correction telescopes to zero: volume (and heat, salt per level)
      is conserved to round-off, whatever the weights.

    One exchange of the network's centre outputs gives the west and south
    neighbours that the face averages read (two exchanges per corrector call).
    """

    def __init__(self, grid, halo: Halo, names: tuple[str, ...], three_d: bool):
        self.grid, self.halo, self.names = grid, halo, names
        self.three_d = three_d

    def _mask(self, kind: str, name: str) -> jax.Array:
        g = self.grid
        if self.three_d and name != "ssh":
            return getattr(g, f"mask3_{kind}")
        return getattr(g, f"mask_{kind}")

    # -- channel layout ---------------------------------------------------------
    def outputs(self, levels: tuple[tuple[str, int], ...]) -> tuple:
        """(channel, levels) the network predicts: a centre tendency per velocity
        component, two flux components per conserved field."""
        out = []
        for name, n in levels:
            if name in VELOCITY:
                out.append((name, n))
            else:
                out.extend((c, n) for c in flux_channels(name))
        return tuple(out)

    def centre_masks(self) -> dict[str, jax.Array]:
        """Interior centre wet mask of each output channel."""
        h, out = self.halo.width, {}
        for name in self.names:
            mask = interior(self._mask("c", name), h)
            channels = (name,) if name in VELOCITY else flux_channels(name)
            out.update({c: mask for c in channels})
        return out

    # -- fields in, tendencies out ------------------------------------------------
    def inputs(self, fields: dict) -> dict:
        """Network inputs: ``fields`` (halos filled) with u and v at centres."""
        if not all(n in fields for n in VELOCITY):
            return dict(fields)
        u, v = fields["u"], fields["v"]
        u_c = 0.5 * (u + jnp.concatenate([u[..., 1:], u[..., -1:] * 0], axis=-1))
        v_c = 0.5 * (v + jnp.concatenate([v[..., 1:, :], v[..., -1:, :] * 0], axis=-2))
        return {**fields, **self.halo.tree({"u": u_c, "v": v_c})}

    def tendencies(self, centre: dict) -> dict:
        """Prognostic tendencies (interior tiles, 0 on land) from the network's
        centre outputs (interior tiles)."""
        g, h = self.grid, self.halo.width
        full = self.halo.tree({c: with_halo(x, h) for c, x in centre.items()})
        ny, nx = g.ny, g.nx
        rows, cols = slice(h, h + ny), slice(h, h + nx)
        out = {}
        for name in self.names:
            if name == "u":
                x = full["u"]
                west = 0.5 * (x[..., rows, h - 1 : h + nx - 1] + x[..., rows, cols])
                out[name] = west * self._mask("u", name)[..., rows, cols]
            elif name == "v":
                x = full["v"]
                south = 0.5 * (x[..., h - 1 : h + ny - 1, cols] + x[..., rows, cols])
                out[name] = south * self._mask("v", name)[..., rows, cols]
            else:
                fx, fy = (full[c] for c in flux_channels(name))
                east = slice(h, h + nx + 1)  # the nx + 1 faces of the interior
                north = slice(h, h + ny + 1)
                face_x = 0.5 * (fx[..., rows, h - 1 : h + nx] + fx[..., rows, east])
                face_x = face_x * self._mask("u", name)[..., rows, east] * g.dy_u[rows]
                face_y = 0.5 * (fy[..., h - 1 : h + ny, cols] + fy[..., north, cols])
                face_y = face_y * self._mask("v", name)[..., north, cols]
                face_y = face_y * g.dx_v[north]
                div = (face_x[..., 1:] - face_x[..., :-1]
                       + face_y[..., 1:, :] - face_y[..., :-1, :])
                out[name] = -div * g.rarea_c[rows] * self._mask("c", name)[
                    ..., rows, cols]
        return out
