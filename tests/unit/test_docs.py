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


def test_generated_pages_are_current():
    for path, text in docs.pages().items():
        assert path.read_text() == text, (
            f"{path.name} is stale: run `python -m neuralogcm_hpc.docs --write`"
        )


def test_cli_page_documents_every_option():
    text = docs.cli_reference()
    for flag in ("--case", "--config", "--set", "--steps", "--days", "--output",
                 "--checkpoint-dir", "--resume"):
        assert flag in text, flag


def test_every_field_is_documented_in_the_reference():
    text = docs.reference()
    for key, field in _leaves(Config):
        assert field.metadata.get("doc"), f"config field {key} has no doc"
        assert f"| `{key}` |" in text, key


def test_check_mode_detects_drift(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "config.md"
    stale.write_text("old\n")
    monkeypatch.setattr(docs, "pages", lambda: {stale: "new\n"})
    assert docs.main(["--check"]) == 1
    assert "--write" in capsys.readouterr().err
    assert docs.main(["--write"]) == 0 and docs.main(["--check"]) == 0
