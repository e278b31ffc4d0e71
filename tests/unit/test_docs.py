"""The generated configuration reference is current and covers every field."""

import dataclasses

from neuralogcm_hpc import docs
from neuralogcm_hpc.config import Config


def _leaves(cls, prefix=""):
    for field in dataclasses.fields(cls):
        missing = field.default is dataclasses.MISSING
        default = field.default_factory() if missing else None
        if dataclasses.is_dataclass(default):
            yield from _leaves(type(default), f"{prefix}{field.name}.")
        else:
            yield prefix + field.name, field


def test_config_reference_is_current():
    text = docs.reference()
    assert docs.DOC_PATH.read_text() == text, (
        "docs/config.md is stale: run `python -m neuralogcm_hpc.docs --write`"
    )


def test_every_field_is_documented_in_the_reference():
    text = docs.reference()
    for key, field in _leaves(Config):
        assert field.metadata.get("doc"), f"config field {key} has no doc"
        assert f"| `{key}` |" in text, key


def test_check_mode_detects_drift(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "config.md"
    stale.write_text("old\n")
    monkeypatch.setattr(docs, "DOC_PATH", stale)
    assert docs.main(["--check"]) == 1
    assert "--write" in capsys.readouterr().err
    assert docs.main(["--write"]) == 0 and docs.main(["--check"]) == 0
