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


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("model_name", "../escape", "model_name: '../escape' is not a valid name"),
        ("model_name", "a/b", "model_name: 'a/b' is not a valid name"),
        ("model_name", "..", "model_name: '..' is not a valid name"),
        ("model_name", "", "model_name: '' is not a valid name"),
        ("model_name", "a" * 101, f"model_name: '{'a' * 101}' is not a valid"),
        ("tracking.experiment", "../x", "tracking.experiment: '../x' is not a valid"),
        ("gate.alias", "best model", "gate.alias: 'best model' is not a valid name"),
        ("gate.alias", "v2", "gate.alias: 'v2' is reserved by MLflow"),
        ("gate.alias", "latest", "gate.alias: 'latest' is reserved by MLflow"),
    ],
)
def test_a_name_that_becomes_a_path_or_mlflow_name_is_checked(key, value, expected):
    config = PipelineConfig.model_validate(MINIMAL)
    with pytest.raises(ValueError) as error:
        config.override(**{key: value})
    message = str(error.value)
    assert message.startswith(expected) and "\n" not in message, message
    assert "pattern ^" in message or "reserved" in message


def test_a_bad_name_in_yaml_is_one_line_naming_file_key_and_pattern(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "model_name: ../escape\ndata: {uri: d.csv, label: y}\nfeatures: []\n"
        "estimator: {type: DNNClassifier}\n"
    )
    with pytest.raises(ValueError) as error:
        PipelineConfig.from_yaml(path)
    assert str(error.value) == (
        f"{path}: model_name: '../escape' is not a valid name; use letters, digits, "
        "'.', '_' and '-', starting with a letter or digit "
        "(pattern ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$)."
    )


def test_deployment_names_are_valid_names(repo):
    import yaml

    from estimators_pipeline.tasks.names import check_name

    project = yaml.safe_load((repo / "prefect.yaml").read_text())
    for deployment in project["deployments"]:
        check_name("deployments.name", deployment["name"])
