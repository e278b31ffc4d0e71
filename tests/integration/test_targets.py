"""--until-step/--until-days targets and the --resume config check, through main()."""

import hashlib
import json
from pathlib import Path

from neuralogcm_hpc.run import main
from tests.integration.cli import TINY


def cli(capsys, *args: str) -> tuple[int, dict | None, str]:
    """main() as the command line runs it: (exit status, SUMMARY, stderr)."""
    status = main([*TINY, *args])
    out, err = capsys.readouterr()
    lines = [x for x in out.splitlines() if x.startswith("SUMMARY ")]
    return status, (json.loads(lines[-1][8:]) if lines else None), err


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path (what is on disk)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_until_step_runs_to_the_target_then_does_nothing(tmp_path, capsys):
    status, ref, _ = cli(capsys, "--steps", "10")
    assert status == 0
    run = ["--until-step", "10", "--steps", "5", "--checkpoint-dir",
           str(tmp_path / "ck"), "--output", str(tmp_path / "out.zarr")]
    status, first, _ = cli(capsys, *run)  # fresh: no checkpoint yet
    assert status == 0 and first["step"] == 5 and first["target_reached"] is False
    status, second, _ = cli(capsys, *run)  # resumes; --steps caps the segment
    assert status == 0 and second["step"] == 10 and second["steps"] == 5
    assert second["target_reached"] is True
    assert second["state_sha256"] == ref["state_sha256"]
    on_disk = tree_digest(tmp_path)
    # a resubmitted job: exit 0, the SUMMARY of the state reached, nothing written
    for again in (run, [*run[2:], "--until-days", repr(10 * 60 / 86400)]):
        status, summary, _ = cli(capsys, *again)
        assert status == 0 and summary["steps"] == 0 and summary["step"] == 10
        assert summary["state_sha256"] == ref["state_sha256"]
        assert summary["target_reached"] is True
        assert tree_digest(tmp_path) == on_disk


def test_until_days_means_the_first_step_at_or_after_that_time(tmp_path, capsys):
    # 0.0005 day = 43.2 s = 0.72 steps of 60 s: the target is step 1
    status, summary, _ = cli(capsys, "--until-days", "0.0005", "--checkpoint-dir",
                             str(tmp_path / "ck"))
    assert status == 0 and summary["step"] == summary["target_step"] == 1


def test_resume_refuses_settings_that_change_the_solution(tmp_path, capsys):
    ck = ["--checkpoint-dir", str(tmp_path / "ck")]
    assert cli(capsys, *ck, "--steps", "5")[0] == 0
    changed = ["--set", "time.dt=30", "--set", "physics.viscosity=50", "--set",
               "seed=3", "--set", "grid.dx=4000", "--set", "time.integrator=ab2",
               "--set", "precision=float32"]
    status, summary, err = cli(capsys, *ck, "--resume", "--steps", "5", *changed)
    assert status == 2 and summary is None and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    for key, was, now in [("time.dt", "60.0", "30.0"),
                          ("physics.viscosity", "20.0", "50.0"), ("seed", "0", "3"),
                          ("grid.dx", "5000.0", "4000.0"),
                          ("time.integrator", "'fb_ab3'", "'ab2'"),
                          ("precision", "'float64'", "'float32'")]:
        assert f"{key}: checkpoint {was}, this run {now}" in line, line
    restore = line.split("Pass ")[1].split(" to continue")[0]
    assert restore.split() == [
        "--set", "grid.dx=5000.0", "--set", "physics.viscosity=20.0", "--set",
        "precision=float64", "--set", "seed=0", "--set", "time.dt=60.0", "--set",
        "time.integrator=fb_ab3"]
    # the printed --set options restore the run: it continues
    status, summary, _ = cli(capsys, *ck, "--resume", "--steps", "5", *changed,
                             *restore.split())
    assert status == 0 and summary["step"] == 10


def test_resume_may_change_how_the_run_is_carried_out(tmp_path, capsys):
    ck = ["--checkpoint-dir", str(tmp_path / "ck")]
    status, ref, _ = cli(capsys, "--steps", "10")
    assert cli(capsys, *ck, "--steps", "5")[0] == 0
    free = ["--set", "time.steps_per_call=2", "--set", "checkpoint.every=4",
            "--set", "checkpoint.keep=3", "--set", "output.every=2",
            "--output", str(tmp_path / "o.zarr"), "--set", "train.width=8"]
    status, summary, err = cli(capsys, *ck, "--resume", "--steps", "5", *free)
    assert status == 0, err
    assert summary["state_sha256"] == ref["state_sha256"]


def test_allowed_integrator_change_resumes_without_a_traceback(tmp_path, capsys):
    ck = ["--checkpoint-dir", str(tmp_path / "ck")]
    assert cli(capsys, *ck, "--steps", "5")[0] == 0  # fb_ab3 (the case default)
    for integrator in ("ab2", "rk3"):  # multistep memory, then none
        status, summary, err = cli(capsys, *ck, "--resume", "--steps", "5",
                                   "--set", f"time.integrator={integrator}",
                                   "--allow-config-change")
        assert status == 0 and "Traceback" not in err, err
        assert summary["step"] in (10, 15)
