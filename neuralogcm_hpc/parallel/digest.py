"""Layout-invariant sha256 of global fields, computed without gathering them."""

from __future__ import annotations

import hashlib

import numpy as np

from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition

_TAG = 7301  # row pieces travel west on host_comm; one message per tile and field


def global_digest(fields: dict, decomposition: Decomposition,
                  context: ParallelContext) -> str:
    """sha256 of every field's global array (collective; every rank returns it).

    Definition: for each field in name order, the name's bytes, then for every
    global row (leading indices outer, y inner) the 32-byte sha256 of that row's
    float64 values (C order, x = 0..nx-1). It depends only on the values, never
    on the rank count or layout. The rank at a tile row's west end hashes its
    rows, receiving the other tiles of that row one at a time; rank 0 gathers
    32 bytes per global row, never a global field (memory: two tiles).
    """
    d, comm = decomposition, context.host_comm
    ix, iy = d.coords(context.rank)
    west = d.rank_of(0, iy)
    top = hashlib.sha256()
    for name in sorted(fields):
        rows = np.ascontiguousarray(np.asarray(fields[name], np.float64))
        rows = rows.reshape(-1, d.tile_ny, d.tile_nx)
        digests = []
        if ix == 0:
            hashers = [[hashlib.sha256() for _ in range(d.tile_ny)] for _ in rows]
            for source in range(d.px):
                piece = rows
                if source:
                    piece = np.empty_like(rows)
                    comm.Recv(piece, source=d.rank_of(source, iy), tag=_TAG)
                for level, hashers_level in enumerate(hashers):
                    for j, hasher in enumerate(hashers_level):
                        hasher.update(piece[level, j].tobytes())
            y0 = iy * d.tile_ny
            digests = [(level, y0 + j, h.digest())
                       for level, hashers_level in enumerate(hashers)
                       for j, h in enumerate(hashers_level)]
        else:
            comm.Send(rows, dest=west, tag=_TAG)
        gathered = context.gather(digests)
        if context.is_root:
            top.update(name.encode())
            for *_, digest in sorted(row for part in gathered for row in part):
                top.update(digest)
    return context.bcast(top.hexdigest() if context.is_root else None)
