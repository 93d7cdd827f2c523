import pytest
from pydantic import ValidationError

from estimators_pipeline.tasks.columns import build_groups
from estimators_pipeline.tasks.config import PipelineConfig

MINIMAL = {
    "model_name": "m",
    "data": {"uri": "d.csv", "label": "y"},
    "features": [{"numeric_column": {"key": "x"}}],
    "estimator": {"type": "DNNClassifier", "args": {"hidden_units": [4]}},
}


@pytest.mark.parametrize("name", ["iris", "census"])
def test_shipped_pipelines_load_and_build_their_columns(repo, name):
    config = PipelineConfig.from_yaml(repo / "pipelines" / f"{name}.yaml")
    assert config.model_name == name
    assert all(build_groups(config.features).values())


def test_defaults_live_in_the_config():
    config = PipelineConfig.model_validate(MINIMAL)
    assert (config.train.steps, config.eval.batch_size, config.gate.alias) == (
        1000,
        256,
        "champion",
    )
    assert config.experiment == "m" and config.work_dir == "runs"


def test_flatten_gives_one_param_per_setting():
    flat = PipelineConfig.model_validate(MINIMAL).flatten()
    assert flat["data.uri"] == "d.csv"
    assert flat["train.steps"] == "1000"
    assert flat["features.0.numeric_column.key"] == "x"
    assert flat["estimator.args.hidden_units"] == "[4]"
    assert flat["gate.fail_on_reject"] == "true"
    assert all(isinstance(v, str) for v in flat.values())


def test_a_typo_is_named_with_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "model_name: m\ndata: {uri: d.csv, label: y, eval_fration: 0.1}\n"
        "features: []\nestimator: {type: DNNClassifier}\n"
    )
    with pytest.raises(
        ValueError,
        match=r"bad.yaml: data.eval_fration: Extra inputs are not "
        r"permitted \(got 0.1\)",
    ):
        PipelineConfig.from_yaml(path)


def test_the_estimator_is_canned_or_a_model_fn_not_both():
    with pytest.raises(ValidationError, match="exactly one of `type`"):
        PipelineConfig.model_validate(
            MINIMAL | {"estimator": {"type": "X", "model_fn": "m:f"}}
        )


def test_override_changes_dotted_fields_and_validates():
    config = PipelineConfig.model_validate(MINIMAL)
    assert config.override(**{"gate.margin": 0.1}).gate.margin == 0.1
    with pytest.raises(
        ValueError, match=r"^train.steps: Input should be greater than 0 \(got 0\)$"
    ):
        config.override(**{"train.steps": 0})
    with pytest.raises(ValueError, match="no section 'trian'"):
        config.override(**{"trian.steps": 5})


def test_load_takes_a_config_a_mapping_or_a_path(repo):
    config = PipelineConfig.load(str(repo / "pipelines" / "iris.yaml"))
    assert PipelineConfig.load(config) is config
    assert PipelineConfig.load(config.model_dump()) == config
