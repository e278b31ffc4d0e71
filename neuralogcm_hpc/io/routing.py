"""Which rank writes which Zarr chunk when a store's chunks do not match the tiles."""

from __future__ import annotations

import numpy as np

from neuralogcm_hpc.parallel.decomposition import Decomposition

Region = tuple[slice, slice]


class ChunkRouting:
    """Maps this rank's tile onto the (y, x) chunk grid of an existing store.

    A store created by this run has one chunk per tile, so every rank writes its
    own chunks (``aligned``). After a restart on a different rank count the chunk
    grid is the old one; two ranks writing parts of one chunk would race
    (read-modify-write), so each chunk gets one owner -- the rank whose tile holds
    the chunk's first cell -- and the other ranks send it their pieces
    (``ParallelContext.alltoall``, only in that case). Still no gather to rank 0.
    """

    def __init__(self, decomposition: Decomposition, chunk_yx: tuple[int, int], rank):
        self.decomposition = decomposition
        self.rank = rank
        self.cy, self.cx = chunk_yx
        d = decomposition
        self.aligned = d.tile_ny % self.cy == 0 and d.tile_nx % self.cx == 0

    def own_regions(self) -> list[Region]:
        """Global (y, x) regions of the chunks this rank writes."""
        d = self.decomposition
        if self.aligned:
            return [d.global_slices(self.rank)]
        return [
            self._chunk_region(jy, jx)
            for jy in range(-(-d.ny // self.cy))
            for jx in range(-(-d.nx // self.cx))
            if self._owner(jy, jx) == self.rank
        ]

    def exchange(
        self, tiles: dict[str, np.ndarray], context
    ) -> dict[str, list[tuple[Region, np.ndarray]]]:
        """Per variable, the (region, data) pieces this rank must write.

        ``tiles`` are this rank's interior tiles (..., ny_t, nx_t). Collective over
        ``context`` (a ParallelContext) unless ``aligned``.
        """
        d = self.decomposition
        ys, xs = d.global_slices(self.rank)
        if self.aligned:
            return {name: [((ys, xs), tile)] for name, tile in tiles.items()}
        outgoing: list[list] = [[] for _ in range(d.size)]
        for jy in range(ys.start // self.cy, -(-ys.stop // self.cy)):
            for jx in range(xs.start // self.cx, -(-xs.stop // self.cx)):
                cys, cxs = self._chunk_region(jy, jx)
                y0, y1 = max(cys.start, ys.start), min(cys.stop, ys.stop)
                x0, x1 = max(cxs.start, xs.start), min(cxs.stop, xs.stop)
                local = (
                    slice(y0 - ys.start, y1 - ys.start),
                    slice(x0 - xs.start, x1 - xs.start),
                )
                pieces = {name: t[..., local[0], local[1]] for name, t in tiles.items()}
                outgoing[self._owner(jy, jx)].append(((jy, jx), (y0, x0), pieces))
        incoming = context.alltoall(outgoing)
        chunks: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        for from_rank in incoming:
            for (jy, jx), (y0, x0), pieces in from_rank:
                cys, cxs = self._chunk_region(jy, jx)
                buffers = chunks.setdefault((jy, jx), {})
                for name, piece in pieces.items():
                    if name not in buffers:
                        shape = piece.shape[:-2] + (
                            cys.stop - cys.start,
                            cxs.stop - cxs.start,
                        )
                        buffers[name] = np.empty(shape, piece.dtype)
                    ny, nx = piece.shape[-2:]
                    buffers[name][
                        ...,
                        y0 - cys.start : y0 - cys.start + ny,
                        x0 - cxs.start : x0 - cxs.start + nx,
                    ] = piece
        return {
            name: [
                (self._chunk_region(*key), bufs[name])
                for key, bufs in sorted(chunks.items())
            ]
            for name in tiles
        }

    def _chunk_region(self, jy: int, jx: int) -> Region:
        d = self.decomposition
        return (
            slice(jy * self.cy, min((jy + 1) * self.cy, d.ny)),
            slice(jx * self.cx, min((jx + 1) * self.cx, d.nx)),
        )

    def _owner(self, jy: int, jx: int) -> int:
        d = self.decomposition
        return (jy * self.cy // d.tile_ny) * d.px + (jx * self.cx // d.tile_nx)
