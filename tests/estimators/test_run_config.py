"""RunConfig defaults are tf.estimator's."""

from __future__ import annotations

import pytest

import estimators as est


def test_defaults_match_tf_estimator():
    config = est.RunConfig()
    assert config.save_summary_steps == 100
    assert config.save_checkpoints_steps is None
    assert config.save_checkpoints_secs == 600
    assert config.keep_checkpoint_max == 5
    assert config.keep_checkpoint_every_n_hours == 10000
    assert config.log_step_count_steps == 100
    assert config.train_distribute is None and config.eval_distribute is None


def test_checkpoint_steps_turn_seconds_off():
    assert est.RunConfig(save_checkpoints_steps=10).save_checkpoints_secs is None
    with pytest.raises(ValueError, match="at most one of"):
        est.RunConfig(save_checkpoints_steps=10, save_checkpoints_secs=60)


@pytest.mark.parametrize(
    "field, value",
    [
        ("save_summary_steps", -1),
        ("keep_checkpoint_max", -2),
        ("steps_per_execution", 0),
    ],
)
def test_bad_values_are_named(field, value):
    with pytest.raises(ValueError, match=f"`{field}`"):
        est.RunConfig(**{field: value})


def test_model_dir_conflict_is_refused(tmp_path):
    def model_fn(features, labels, mode):
        raise AssertionError

    with pytest.raises(ValueError, match="differ"):
        est.Estimator(
            model_fn,
            model_dir=str(tmp_path / "a"),
            config=est.RunConfig(model_dir=str(tmp_path / "b")),
        )
    estimator = est.Estimator(model_fn, config=est.RunConfig(model_dir=str(tmp_path)))
    assert estimator.model_dir == str(tmp_path)
    assert estimator.config.model_dir == str(tmp_path)
