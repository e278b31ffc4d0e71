"""Which MPI library mpi4py and mpi4jax's bridge use; a mismatch stops the job."""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

from neuralogcm_hpc.parallel.jax_internals import mpi4jax_cpu_bridge

# Set to 1 to run despite a reported mismatch (e.g. a vendor string this check
# does not know, on two ABI-compatible MPICH-family libraries).
SKIP_VARIABLE = "NEURALOGCM_SKIP_MPI_CHECK"
REBUILD = (
    "rebuild mpi4jax against the MPI that mpi4py uses: MPICC=$(which mpicc) pip "
    "install --no-cache-dir --no-build-isolation --no-binary mpi4jax "
    "--force-reinstall mpi4jax==0.9.1.post2 (docs/cluster.md)"
)
# Companion libraries of Open MPI / MPICH that are not the MPI library itself.
_COMPANIONS = ("_cxx", "_mpifh", "_usempi", "_java", "_f77", "_f90", "_f08", "fort")


class MpiMismatchError(RuntimeError):
    """mpi4py and mpi4jax's compiled bridge run on different MPI libraries."""


@dataclasses.dataclass(frozen=True)
class MpiLibraries:
    """What each Python binding of MPI is linked against, in this process."""

    mpi4py_version: str  # MPI_Get_library_version through mpi4py
    mpi4py_library: str | None  # the libmpi file its extension resolved to
    bridge_version: str | None  # the same call made by mpi4jax's C++ bridge
    bridge_library: str | None  # the libmpi file the bridge resolved to

    def describe(self) -> str:
        py = f"{first_line(self.mpi4py_version)} ({self.mpi4py_library or '?'})"
        if self.bridge_version is None and self.bridge_library is None:
            return f"mpi4py: {py}; mpi4jax: not inspected"
        jx = f"{first_line(self.bridge_version or '?')} ({self.bridge_library or '?'})"
        return f"mpi4py: {py}; mpi4jax bridge: {jx}"


def first_line(version: str) -> str:
    """The library's name and version, without build details or NUL padding."""
    text = version.replace("\x00", "").strip().splitlines()
    head = text[0] if text else ""
    return head.split(", package:")[0].split(", ident:")[0].strip()


def vendor(version: str) -> str:
    """The MPI family a ``MPI_Get_library_version`` string names."""
    upper = version.upper()
    for needle, name in (
        ("CRAY MPICH", "Cray MPICH"),
        ("INTEL(R) MPI", "Intel MPI"),
        ("INTEL MPI", "Intel MPI"),
        ("MVAPICH", "MVAPICH"),
        ("OPEN MPI", "Open MPI"),
        ("MPICH", "MPICH"),
    ):
        if needle in upper:
            return name
    return first_line(version).split(" ")[0] or "unknown"


def mismatch(libs: MpiLibraries) -> str | None:
    """A one-line reason when the two bindings disagree, else None.

    Two different libmpi files in one process mean two MPI runtimes: handles made
    by one are garbage to the other (Open MPI's are pointers, MPICH's 32-bit ints),
    so the first halo exchange crashes or silently corrupts. A different vendor
    behind the same file name (a rebuilt site library) is caught by the strings.
    """
    problems = []
    if libs.bridge_version is not None:
        a, b = vendor(libs.mpi4py_version), vendor(libs.bridge_version)
        if a != b:
            problems.append(f"vendors differ ({a} vs {b})")
    if libs.mpi4py_library and libs.bridge_library:
        if os.path.realpath(libs.mpi4py_library) != os.path.realpath(
            libs.bridge_library
        ):
            problems.append("two different libmpi files are loaded")
    if not problems:
        return None
    return f"MPI mismatch, {' and '.join(problems)}: {libs.describe()}; {REBUILD}"


def needed_libmpi(path: str | os.PathLike) -> str | None:
    """The libmpi soname an ELF64 shared object lists as DT_NEEDED, if any."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # ELF, 64-bit class only
        return None
    end = "<" if data[5] == 1 else ">"
    (shoff,) = struct.unpack_from(end + "Q", data, 0x28)
    shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
    sections = [
        struct.unpack_from(end + "IIQQQQIIQQ", data, shoff + i * shentsize)
        for i in range(shnum)
    ]
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][4]
        for at in range(offset, offset + size, entsize or 16):
            tag, value = struct.unpack_from(end + "qQ", data, at)
            if tag == 0:  # DT_NULL ends the table
                break
            if tag == 1:  # DT_NEEDED
                name = data[strtab + value : data.index(b"\0", strtab + value)]
                soname = name.decode()
                if _is_libmpi(soname):
                    return soname
    return None


def _is_libmpi(name: str) -> bool:
    stem = name.split(".so")[0]
    return stem.startswith("libmpi") and not any(c in stem for c in _COMPANIONS)


def mapped_library(soname: str | None, maps: str | None = None) -> str | None:
    """The file this process mapped for ``soname`` (``/proc/self/maps``)."""
    if soname is None:
        return None
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:  # not Linux: report without a path
            return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        # The loader opens the soname symlink; maps shows its target, which
        # carries the full version (libmpi.so.40 -> libmpi.so.40.40.11).
        if path.startswith("/") and Path(path).name.startswith(soname):
            return path
    return None


def inspect_libraries() -> MpiLibraries:
    """Import both bindings and read what each is linked against."""
    from mpi4py import MPI

    libs = {"mpi4py_version": MPI.Get_library_version()}
    libs["mpi4py_library"] = mapped_library(needed_libmpi(MPI.__file__))
    bridge = mpi4jax_cpu_bridge()
    # The bridge asks its own libmpi at import; a private attribute of mpi4jax
    # 0.9, so its absence only loses the vendor comparison.
    info = getattr(bridge, "MPI_ABI_INFO", {}) or {}
    libs["bridge_version"] = info.get("mpi_library_version")
    libs["bridge_library"] = mapped_library(needed_libmpi(bridge.__file__))
    return MpiLibraries(**libs)


def check_mpi_libraries() -> MpiLibraries:
    """Inspect the bindings; raise ``MpiMismatchError`` when they disagree."""
    libs = inspect_libraries()
    reason = mismatch(libs)
    if reason is not None and os.environ.get(SKIP_VARIABLE) != "1":
        raise MpiMismatchError(f"{reason} (or set {SKIP_VARIABLE}=1 to run anyway)")
    return libs
