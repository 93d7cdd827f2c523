"""RunConfig defaults are tf.estimator's."""

from __future__ import annotations

import warnings

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


def test_tf_random_seed_is_random_seed_with_a_warning():
    with pytest.warns(est.TFCompatWarning, match="`tf_random_seed`.*`random_seed`"):
        config = est.RunConfig(tf_random_seed=7)
    assert config.random_seed == 7 and config.seed == 7
    assert config.tf_random_seed == 7  # tf code reads it back
    assert est.RunConfig(random_seed=3).tf_random_seed == 3
    with pytest.raises(ValueError, match="give one of them, got 7 and 3"):
        est.RunConfig(tf_random_seed=7, random_seed=3)


@pytest.mark.parametrize(
    "argument, value, says",
    [
        ("session_config", object(), "no tf.Sessions"),
        ("device_fn", lambda op: "/cpu:0", "train_distribute"),
        ("protocol", "grpc", "ignored"),
        ("experimental_distribute", object(), "train_distribute"),
        ("experimental_max_worker_delay_secs", 60, "lock-step"),
        ("session_creation_timeout_secs", 60, "ignored"),
        ("checkpoint_save_graph_def", False, "no graph"),
    ],
)
def test_tf_only_arguments_are_accepted_with_one_warning(argument, value, says):
    with pytest.warns(est.TFCompatWarning, match=f"`{argument}`.*{says}") as caught:
        config = est.RunConfig(**{argument: value})
    assert len(caught) == 1
    assert getattr(config, argument) is value
    # replacing another field does not warn again (the Estimator does it)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert config.replace(model_dir="/tmp/m").model_dir == "/tmp/m"


def test_tf_defaults_of_tf_only_arguments_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = est.RunConfig(
            session_config=None,
            session_creation_timeout_secs=7200,
            checkpoint_save_graph_def=True,
            random_seed=1,
        )
        assert config.replace(random_seed=2).tf_random_seed == 2


def test_a_tf_config_ports_unchanged(tmp_path):
    # tf.estimator.RunConfig(...) as written in tf 2.x programs
    with pytest.warns(est.TFCompatWarning):
        config = est.RunConfig(
            model_dir=str(tmp_path),
            tf_random_seed=42,
            save_checkpoints_steps=50,
            session_config=object(),
            keep_checkpoint_max=3,
            log_step_count_steps=10,
        )
    assert config.seed == 42 and config.save_checkpoints_secs is None


def test_tf_cluster_properties_read_as_in_a_single_process_tf_run():
    # tf.estimator without TF_CONFIG: one worker, the chief, no parameter servers
    config = est.RunConfig()
    assert config.is_chief is True
    assert (config.task_type, config.task_id, config.global_id_in_cluster) == (
        "worker",
        0,
        0,
    )
    assert (config.num_worker_replicas, config.num_ps_replicas) == (1, 0)
    assert config.master == "" and config.evaluation_master == ""
    assert config.cluster_spec == {} and config.service is None
