"""The command line contract: SUMMARY, rank invariance, clear errors on every rank."""

import subprocess
from pathlib import Path

import pytest

from neuralogcm_hpc.cases import CASES
from tests.integration.cli import ROOT, TINY, run_cli


def test_readme_run_command_runs_the_default_case_on_4_ranks(tmp_path):
    """The README's main job (the shipped hybrid on the 40 km gyre), shortened to
    30 days, with its quick-look plots."""
    import os

    out = tmp_path / "default.zarr"
    proc = subprocess.run(
        ["bash", "scripts/run_default.sh", "--days", "30"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "OUT": str(out)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("SUMMARY ") == 1  # rank 0 only
    from tests.integration.cli import summary_of

    summary = summary_of(proc.stdout)
    assert summary["ranks"] == 4 and summary["simulated_days"] == 30
    assert summary["case"] == "eddying_gyre" and summary["trained_params"]
    for key in ("wall_seconds", "decomposition"):
        assert key in summary
    assert (out / "zarr.json").is_file()
    for png in ("maps.png", "timeseries.png", "eke.png"):
        assert (tmp_path / "default_plots" / png).stat().st_size > 1000


def test_same_problem_on_1_2_4_ranks_is_bit_identical():
    digests = {
        n: run_cli(n, *TINY, "--steps", "20")[1]["state_sha256"] for n in (1, 2, 4)
    }
    assert len(set(digests.values())) == 1, digests


@pytest.mark.slow  # 6 cases x 3 launches, compile-bound: 21 min on 2 busy cores
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_case_at_its_default_size_is_bit_identical_on_1_2_4_ranks(case):
    """Each built-in case as shipped (automatic layouts: 2 x 1, and 4 x 1 or
    2 x 2), 3 steps in one compiled call. double_gyre and global differed
    from the first step until the level sums got a fixed order
    (baroclinic.level_sum)."""
    args = ["--case", case, "--steps", "3", "--set", "time.steps_per_call=3"]
    digests = {n: run_cli(n, *args, timeout=900)[1]["state_sha256"] for n in (1, 2, 4)}
    assert len(set(digests.values())) == 1, digests


def test_rank_count_that_does_not_divide_the_grid_fails_on_every_rank():
    proc, summary = run_cli(3, *TINY, "--steps", "5", check=False)
    assert proc.returncode != 0 and summary is None
    errors = [x for x in proc.stderr.splitlines() if "DecompositionError" in x]
    assert sorted(x.split(":")[2].strip() for x in errors) == [
        "rank 0/3",
        "rank 1/3",
        "rank 2/3",
    ]
    assert "3 ranks cannot tile the 32 x 16 grid" in errors[0]
    assert "rank counts that fit" in errors[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "grid.nx=abc"], "grid.nx must be an integer, got 'abc'"),
        (["--set", "grid.nxx=4"], "unknown key(s) grid.nxx"),
        (
            ["--set", "time.integrator=leapfrog"],
            "time.integrator = 'leapfrog' is not one of",
        ),
        (["--config", "missing.toml"], "config file missing.toml does not exist"),
        (["--resume"], "--resume needs a checkpoint directory"),
        (
            ["--set", "decomposition.px=2", "--set", "decomposition.py=1"],
            "needs 2 ranks but the job has 1",
        ),
        (
            ["--set", "grid.halo=1", "--set", "physics.biharmonic=1e9"],
            "shallow water needs grid.halo >= 2",
        ),
        (["--days", "0.0001"], "is not a whole number of time steps"),
    ],
)
def test_bad_input_gets_a_one_line_reason_and_nonzero_exit(args, message):
    proc, _ = run_cli(1, *TINY, *args, check=False)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("neuralogcm_hpc: error: ") and message in last, last


def test_help_documents_every_option():
    proc = subprocess.run(
        [__import__("sys").executable, "-m", "neuralogcm_hpc.run", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    for option in (
        "--case",
        "--config",
        "--set",
        "--steps",
        "--days",
        "--output",
        "--checkpoint-dir",
        "--resume",
        "simulate",
        "train",
    ):
        assert option in proc.stdout


# -- every documented choice runs (issue 12, item 1) ---------------------------
# Primitive mode steps with its own split-explicit scheme: time.integrator is for
# shallow water only, so primitive + any integrator but the default is refused
# (test_bad_files_and_values_are_refused_before_the_first_step).
PRIMITIVE = ["--case", "double_gyre", "--set", "grid.nz=3"]
CHOICES = [
    *[
        pytest.param(
            ["--set", f"precision={p}", "--set", f"time.integrator={i}"],
            id=f"shallow_water-{i}-{p}",
            # float64 runs of each integrator and of primitive mode are in the MPI
            # and restart tests too; here they are in the slow set
            marks=[pytest.mark.slow] if p == "float64" else [],
        )
        for i in ("euler", "heun", "ab2", "rk3", "rk4", "fb_ab3")
        for p in ("float32", "float64")
    ],
    *[
        pytest.param(
            [*PRIMITIVE, "--set", f"precision={p}"],
            id=f"primitive-{p}",
            marks=[pytest.mark.slow] if p == "float64" else [],
        )
        for p in ("float32", "float64")
    ],
]


@pytest.mark.parametrize("args", CHOICES)
def test_every_documented_choice_runs_through_the_cli(args):
    _, summary = run_cli(1, *TINY, *args, "--steps", "5")
    assert summary["steps"] == 5 and f"precision={summary['precision']}" in args
    assert all(v == v for v in summary["diagnostics"].values())  # no NaN


def test_float32_on_1_2_4_ranks_is_bit_identical():
    """As float64 (test_same_problem_on_1_2_4_ranks_is_bit_identical): fields and
    grid in float32, exact order-independent global sums, no FMA contraction."""
    f32 = ["--set", "precision=float32"]
    digests = {
        n: run_cli(n, *TINY, *f32, "--steps", "10")[1]["state_sha256"]
        for n in (1, 2, 4)
    }
    assert len(set(digests.values())) == 1, digests


# -- validation up front (issue 12, item 8) -----------------------------------
def bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    (tmp / "file").write_text("x")
    (tmp / "bad.yaml").write_text("a: [1\n")
    (tmp / "list.yaml").write_text("- 1\n- 2\n")
    return [
        (["--set", "output.average_every=-1"], "output.average_every must be >= 0"),
        (["--set", "physics.cfl_limit=nan"], "physics.cfl_limit must be a finite"),
        (["--set", "physics.cfl_limit=0"], "physics.cfl_limit must be > 0"),
        (["--set", "physics.viscosity=-1"], "physics.viscosity must be >= 0"),
        (["--set", "physics.drag=-1e-6"], "physics.drag must be >= 0"),
        (["--set", "grid.dx=inf"], "grid.dx must be a finite number"),
        (["--days", "nan"], "--days must be a finite number > 0, got nan"),
        (["--days", "inf"], "--days must be a finite number > 0, got inf"),
        (["--days", "-1"], "--days must be a finite number > 0, got -1.0"),
        (["--config", str(tmp / "bad.yaml")], f"cannot parse {tmp / 'bad.yaml'}"),
        (["--config", str(tmp / "list.yaml")], "must hold a mapping of settings"),
        (["--output", str(tmp / "file")], "is an existing file, not a directory"),
        (["--checkpoint-dir", str(tmp / "file")], "is an existing file"),
        (["--checkpoint-dir", str(tmp / "file" / "ck")], "cannot be created"),
        (
            ["--set", "grid.nx=2000000", "--set", "grid.ny=1000000"],
            "GiB per rank on 1 rank(s)",
        ),
        (
            [*PRIMITIVE, "--set", "time.integrator=rk4"],
            "time.integrator = 'rk4' is a shallow_water setting that physics.mode = "
            "primitive ignores",
        ),
        (["--until-step", "5"], "--until-step/--until-days resume from the newest"),
        (["--until-days", "-1", "--checkpoint-dir", str(tmp)], "--until-days must"),
    ]


def test_bad_files_and_values_are_refused_before_the_first_step(tmp_path, capsys):
    """In-process (main() is the CLI; one interpreter for 18 cases); the exit on
    every rank of a real launch: test_a_bad_path_stops_every_rank_with_exit_2."""
    from neuralogcm_hpc.run import main

    for args, message in bad_inputs(tmp_path):
        status = main([*TINY, *args, "--steps", "5"] if "--days" not in args
                      else [*TINY, *args])
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert status == 2, (args, err)
        assert len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith("neuralogcm_hpc: error: ConfigError: "), lines
        assert message in lines[0], (message, lines[0])
        assert "step " not in out and "SUMMARY" not in out, out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.yaml", "file", "list.yaml"
    ]


def test_memory_estimate_names_a_rank_count_that_fits():
    """The CLI's refusal; the arithmetic of the count: tests/unit/test_preflight.py.
    MemAvailable moves on a shared machine, so the count is checked against the
    budget the message states."""
    proc, _ = run_cli(
        1, *TINY, "--set", "grid.nx=2000000", "--set", "grid.ny=1000000", check=False
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    budget = float(last.split("only ")[1].split(" GiB")[0]) * 2**30
    ranks = int(last.split("run on at least ")[1].split()[0])
    from neuralogcm_hpc.config import Config
    from neuralogcm_hpc.preflight import rank_bytes

    config = Config().replace(**{"grid.nx": 2000000, "grid.ny": 1000000})
    best = min(
        rank_bytes(config, px, ranks // px)
        for px in range(1, ranks + 1)
        if ranks % px == 0 and 2000000 % px == 0 and 1000000 % (ranks // px) == 0
    )
    assert best <= budget + 0.05 * 2**30 < rank_bytes(config, 1, 1)


def test_a_bad_path_stops_every_rank_with_exit_2(tmp_path):
    (tmp_path / "out.zarr").write_text("not a store")
    proc, summary = run_cli(
        2, *TINY, "--output", str(tmp_path / "out.zarr"), "--steps", "5", check=False
    )
    assert proc.returncode == 2 and summary is None, proc.stderr
    errors = [x for x in proc.stderr.splitlines() if "is an existing file" in x]
    assert sorted(x.split(":")[2].strip() for x in errors) == ["rank 0/2", "rank 1/2"]
    assert "Traceback" not in proc.stderr
