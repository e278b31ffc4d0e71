"""Which settings a resume may change (config_check), checked on config dicts."""

import pytest

from neuralogcm_hpc.config import Config, ConfigError, to_dict
from neuralogcm_hpc.config_check import (
    TRAIN_FREE,
    check_resume,
    differences,
)


def changed(**changes) -> dict:
    return to_dict(Config().replace(**changes))


BASE = to_dict(Config())


@pytest.mark.parametrize(
    "key, value",
    [("output.every", 7), ("output.path", "o.zarr"), ("checkpoint.keep", 5),
     ("checkpoint.every", 3), ("checkpoint.dir", "x"), ("time.steps", 9),
     ("time.steps_per_call", 3), ("decomposition.px", 2), ("train.width", 8)],
)
def test_settings_that_keep_the_solution_may_change(key, value):
    assert differences(BASE, changed(**{key: value})) == []


@pytest.mark.parametrize(
    "key, value",
    [("grid.nx", 64), ("grid.dx", 1e3), ("time.dt", 30.0), ("time.integrator", "rk4"),
     ("precision", "float32"), ("seed", 1), ("physics.gravity", 9.8),
     ("physics.substeps", 2), ("physics.pe_eos", "jmfwg06"), ("case", "global")],
)
def test_settings_that_change_the_solution_must_match(key, value):
    assert differences(BASE, changed(**{key: value})) == [
        (key, _get(BASE, key), value)
    ]


def _get(tree: dict, dotted: str):
    for part in dotted.split("."):
        tree = tree[part]
    return tree


def test_train_resume_keeps_the_model_and_optimiser_but_not_the_cadences():
    assert differences(BASE, changed(**{"train.log_every": 3}), TRAIN_FREE) == []
    assert differences(BASE, changed(**{"train.steps": 3}), TRAIN_FREE) == []
    assert [k for k, *_ in differences(
        BASE, changed(**{"train.width": 8, "train.learning_rate": 0.1}), TRAIN_FREE
    )] == ["train.learning_rate", "train.width"]


def test_a_key_of_another_version_is_named_as_absent():
    saved = {**BASE, "physics": {**BASE["physics"], "old_knob": 1.0}}
    ((key, was, now),) = differences(saved, BASE)
    assert key == "physics.old_knob" and was == 1.0 and repr(now) == "(absent)"


def test_refusal_names_each_difference_and_the_set_that_restores_it():
    with pytest.raises(ConfigError) as error:
        check_resume(changed(**{"train.eval_leads": "1, 2"}),
                     changed(**{"physics.learn_fields": True}), "ck/ckpt-1", free=())
    text = str(error.value)
    assert "physics.learn_fields: checkpoint false, this run true" in text
    assert "train.eval_leads: checkpoint '1, 2', this run '1,10,30,60,120'" in text
    # quoted for the shell where the value needs it
    assert "--set physics.learn_fields=false --set 'train.eval_leads=1, 2'" in text
    assert "--allow-config-change" in text and "\n" not in text


def test_allowed_changes_are_logged_not_refused():
    said = []
    diff = check_resume(BASE, changed(**{"time.dt": 30.0}), "ck", allow=True,
                        log=said.append)
    assert [k for k, *_ in diff] == ["time.dt"]
    assert said and "time.dt: checkpoint 60.0, this run 30.0" in said[0]
