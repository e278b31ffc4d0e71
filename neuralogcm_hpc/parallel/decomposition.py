"""Split an nx x ny (x nz) global grid into px x py tiles, one per rank."""

from __future__ import annotations

import dataclasses


class DecompositionError(ValueError):
    """A rank count or tile layout that does not fit the grid."""


@dataclasses.dataclass(frozen=True)
class Decomposition:
    """A px x py tiling of an nx x ny global grid; tile (ix, iy) belongs to one rank.

    Ranks are numbered row-major with x fastest: ``rank = iy * px + ix``. Tiles are
    equal: ``nx % px == 0`` and ``ny % py == 0`` are required, so every rank does the
    same work and the layout never depends on which rank asks.
    ``periodic_x`` / ``periodic_y`` choose a periodic axis (e.g. a zonally periodic
    global ocean) or walls at both ends of that axis.
    """

    nx: int
    ny: int
    px: int = 1
    py: int = 1
    periodic_x: bool = True
    periodic_y: bool = False

    def __post_init__(self):
        for name in ("nx", "ny", "px", "py"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise DecompositionError(
                    f"{name} must be a positive integer, got {value!r}"
                )
        if self.nx % self.px or self.ny % self.py:
            raise DecompositionError(
                f"a {self.px} x {self.py} tiling does not divide the {self.nx} x "
                f"{self.ny} grid evenly; {_valid_counts_hint(self.nx, self.ny)}"
            )

    @property
    def size(self) -> int:
        """Number of tiles (= MPI ranks)."""
        return self.px * self.py

    @property
    def tile_nx(self) -> int:
        return self.nx // self.px

    @property
    def tile_ny(self) -> int:
        return self.ny // self.py

    def coords(self, rank: int) -> tuple[int, int]:
        """Tile coordinates (ix, iy) of a rank."""
        self._check_rank(rank)
        return rank % self.px, rank // self.px

    def rank_of(self, ix: int, iy: int) -> int | None:
        """Rank owning tile (ix, iy), wrapping periodic axes; None beyond a wall."""
        if self.periodic_x:
            ix %= self.px
        if self.periodic_y:
            iy %= self.py
        if not (0 <= ix < self.px and 0 <= iy < self.py):
            return None
        return iy * self.px + ix

    def offsets(self, rank: int) -> tuple[int, int]:
        """Global (x, y) index of a tile's first interior cell."""
        ix, iy = self.coords(rank)
        return ix * self.tile_nx, iy * self.tile_ny

    def global_slices(self, rank: int) -> tuple[slice, slice]:
        """(y, x) slices of the global array that a rank's interior covers."""
        x0, y0 = self.offsets(rank)
        return slice(y0, y0 + self.tile_ny), slice(x0, x0 + self.tile_nx)

    def local_tile(self, global_array, rank: int):
        """A rank's interior block of an array whose last two axes are global (y, x)."""
        ys, xs = self.global_slices(rank)
        return global_array[..., ys, xs]

    def neighbours(self, rank: int) -> dict[str, int | None]:
        """Ranks to the west, east, south and north (None at a wall)."""
        ix, iy = self.coords(rank)
        return {
            "west": self.rank_of(ix - 1, iy),
            "east": self.rank_of(ix + 1, iy),
            "south": self.rank_of(ix, iy - 1),
            "north": self.rank_of(ix, iy + 1),
        }

    def at_wall(self, rank: int) -> dict[str, bool]:
        """Whether each side of a rank's tile is a domain wall."""
        return {side: n is None for side, n in self.neighbours(rank).items()}

    def check_halo(self, halo: int) -> None:
        """A halo wider than a tile would need a neighbour's neighbour: refuse it."""
        if halo > min(self.tile_nx, self.tile_ny):
            raise DecompositionError(
                f"halo width {halo} exceeds the {self.tile_nx} x {self.tile_ny} tile; "
                "use fewer ranks or a larger grid"
            )

    def _check_rank(self, rank: int) -> None:
        if not 0 <= rank < self.size:
            raise DecompositionError(f"rank {rank} outside 0..{self.size - 1}")

    @classmethod
    def auto(
        cls,
        nx: int,
        ny: int,
        ranks: int,
        periodic_x: bool = True,
        periodic_y: bool = False,
    ) -> Decomposition:
        """The even tiling for ``ranks`` with the shortest total halo perimeter.

        Shorter perimeter means fewer halo cells to send per step; among equal
        perimeters the tiling with more tiles along x (rows stay contiguous) wins.
        """
        layouts = valid_layouts(nx, ny, ranks)
        if not layouts:
            raise DecompositionError(
                f"{ranks} ranks cannot tile the {nx} x {ny} grid evenly; "
                f"{_valid_counts_hint(nx, ny)}"
            )
        px, py = min(layouts, key=lambda p: (nx // p[0] + ny // p[1], -p[0]))
        return cls(nx, ny, px, py, periodic_x, periodic_y)


def valid_layouts(nx: int, ny: int, ranks: int) -> list[tuple[int, int]]:
    """All (px, py) with px * py == ranks that divide nx x ny evenly."""
    return [
        (px, ranks // px)
        for px in range(1, ranks + 1)
        if ranks % px == 0 and nx % px == 0 and ny % (ranks // px) == 0
    ]


def valid_rank_counts(nx: int, ny: int, up_to: int = 64) -> list[int]:
    """Rank counts up to ``up_to`` that tile nx x ny evenly."""
    return [n for n in range(1, up_to + 1) if valid_layouts(nx, ny, n)]


def _valid_counts_hint(nx: int, ny: int) -> str:
    counts = ", ".join(map(str, valid_rank_counts(nx, ny)))
    return (
        f"rank counts that fit (up to 64): {counts}; or set decomposition.px / "
        "decomposition.py so that px divides nx and py divides ny"
    )
