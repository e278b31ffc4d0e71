"""The architecture's rules, checked on the source: MPI only in parallel/, private
JAX internals in one place, the simulation independent of training, and both
physics cores behind the declared interface."""

import ast
from pathlib import Path

import pytest

import neuralogcm_hpc
from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.physics.core import PhysicsCore

PACKAGE = Path(neuralogcm_hpc.__file__).parent


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names), at any depth."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), imports(path)


def test_mpi_is_imported_only_in_parallel():
    offenders = {
        name: sorted(m for m in found if m.split(".")[0] in ("mpi4py", "mpi4jax"))
        for name, found in modules()
        if not name.startswith("parallel/")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_private_jax_internals_only_in_their_one_module():
    users = {name for name, found in modules() if any("._src" in m for m in found)}
    assert users == {"parallel/jax_internals.py"}


@pytest.mark.parametrize(
    "layer", ["simulation.py", "model.py", "trained.py", "physics/", "io/", "parallel/"]
)
def test_layers_below_training_do_not_import_it(layer):
    bad = {
        name: sorted(m for m in found if m.startswith("neuralogcm_hpc.training"))
        for name, found in modules()
        if name.startswith(layer)
    }
    assert not {k: v for k, v in bad.items() if v}


@pytest.mark.parametrize(
    ("case", "sizes"),
    [
        ("beta_plane_small", {"grid.nx": 16, "grid.ny": 8}),
        ("double_gyre", {"grid.nx": 8, "grid.ny": 8, "grid.nz": 2}),
    ],
)
def test_both_cores_implement_the_declared_interface(case, sizes, serial_context):
    model = build_model(case_config(case).replace(**sizes), serial_context)
    assert isinstance(model, PhysicsCore)
    masks = model.masks()
    assert tuple(masks) == model.prognostic_names
    state = model.initial_state()
    for name, field in model.fields(state).items():
        # one mask per field, at the field's position (3-D fields: 3-D masks)
        assert model.grid.interior(masks[name]).shape[-field.ndim :] == field.shape
