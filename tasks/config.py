"""`PipelineConfig`: everything a training pipeline run needs, with its defaults.

One typed object, loadable from YAML, is the flow's parameter and is logged to
MLflow flattened (`flatten()`), so every run records exactly what produced it.
Relative paths are resolved against the current directory (the project root).

Example:
    >>> config = PipelineConfig.model_validate({
    ...     "model_name": "iris",
    ...     "data": {"uri": "data/iris_training.csv", "label": "Species"},
    ...     "features": [{"numeric_column": {"key": "SepalLength"}}],
    ...     "estimator": {"type": "DNNClassifier", "args": {"hidden_units": [4]}},
    ... })
    >>> config.train.steps, config.gate.metric
    (1000, 'accuracy')
    >>> config.flatten()["estimator.args.hidden_units"]
    '[4]'
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from estimators_pipeline.tasks.names import check_alias, check_name

__all__ = [
    "ColumnSpec",
    "ColumnSpecs",
    "DataConfig",
    "EarlyStoppingConfig",
    "EstimatorConfig",
    "EvalConfig",
    "GateConfig",
    "PipelineConfig",
    "TrackingConfig",
    "TrainConfig",
    "merge_overrides",
]

ColumnSpec = dict[str, Any]
"""One feature column: `{factory_name: {argument: value}}`, e.g.
`{"numeric_column": {"key": "age", "normalizer": "zscore"}}`; an argument that is
itself a column is written the same way."""

ColumnSpecs = list[ColumnSpec] | dict[str, list[ColumnSpec]]
"""A config's `features`: a list of specs, or estimator argument -> list of specs."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the examples come from and how they are split.

    Attributes:
        uri: A CSV or Parquet file, a folder of them, or a glob.
        label: The label column.
        eval_uri: Separate evaluation data; when None, `uri` is split.
        format: "csv", "parquet", or "auto" (from the file extension).
        eval_fraction: Share of rows that go to the evaluation split.
        split_seed: Salt of the row hash that assigns rows to splits; a row's
            split depends only on its content, so it stays put as data grows.
    """

    uri: str
    label: str
    eval_uri: str | None = None
    format: Literal["auto", "csv", "parquet"] = "auto"
    eval_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int = 0


class EstimatorConfig(_Section):
    """Which model to train: a canned estimator or a user `model_fn`.

    Attributes:
        type: A canned estimator in `estimators.canned` ("DNNClassifier"), or
            "package.module:Class".
        model_fn: "package.module:function" or "path/file.py:function" of a
            custom model_fn; give either `type` or `model_fn`.
        args: The canned estimator's arguments (tf.estimator names), or the
            `params` given to `model_fn`. Feature columns are added for you.
    """

    type: str | None = None
    model_fn: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.type is None) == (self.model_fn is None):
            raise ValueError(
                "estimator: give exactly one of `type` (a canned estimator such as "
                f"DNNClassifier) and `model_fn`, got type={self.type!r}, "
                f"model_fn={self.model_fn!r}."
            )
        return self


class TrainConfig(_Section):
    """How long and how to train (RunConfig settings included)."""

    steps: int = Field(1000, gt=0, description="global_step to train to (max_steps)")
    batch_size: int = Field(32, gt=0)
    shuffle_buffer: int = Field(10_000, gt=0)
    seed: int = 0
    save_summary_steps: int = Field(10, ge=0)
    save_checkpoints_steps: int | None = Field(None, gt=0)
    keep_checkpoint_max: int = Field(3, ge=0)
    log_step_count_steps: int = Field(100, gt=0)
    steps_per_execution: int = Field(1, gt=0)


class EarlyStoppingConfig(_Section):
    """Stop training when an evaluation metric stops improving (Keras' semantics).

    Attributes:
        metric: The evaluation metric watched; default the gate's metric.
        higher_is_better: Its direction; default the gate's direction.
        patience: Evaluations in a row without an improvement before stopping.
        min_delta: An improvement must beat the best so far by more than this.
        restore_best: Evaluate, export and register the best evaluated
            checkpoint instead of the last one.
    """

    metric: str | None = None
    higher_is_better: bool | None = None
    patience: int = Field(3, gt=0)
    min_delta: float = Field(0.0, ge=0)
    restore_best: bool = True


class EvalConfig(_Section):
    """Evaluation settings.

    Attributes:
        batch_size: Rows per evaluation batch.
        every_n_steps: Also evaluate the eval split every this many training
            steps (the `eval/...` curves in MLflow); None: only at the end.
        early_stopping: Stop when the evaluations stop improving (needs
            `every_n_steps`); None: train to `train.steps`.
    """

    batch_size: int = Field(256, gt=0)
    every_n_steps: int | None = Field(None, gt=0)
    early_stopping: EarlyStoppingConfig | None = None

    @model_validator(mode="after")
    def _early_stopping_needs_evaluations(self) -> Self:
        if self.early_stopping is not None and self.every_n_steps is None:
            raise ValueError(
                "eval.early_stopping needs eval.every_n_steps (how often to "
                "evaluate during training), e.g. every_n_steps: 100."
            )
        return self


class GateConfig(_Section):
    """When a new model version becomes `champion`.

    The candidate takes the alias when there is no champion, or when it beats the
    champion, both evaluated on this run's evaluation split, by more than
    `margin` on `metric` (higher or lower is better).

    Attributes:
        metric: An evaluation metric name, e.g. "accuracy", "auc", "average_loss".
        higher_is_better: Direction of `metric`.
        margin: How much better the candidate must be; 0 means strictly better.
        fail_on_reject: Whether a rejected candidate fails the run (CI), after
            it has been registered without the alias.
        alias: The alias that marks the served version.
    """

    metric: str = "accuracy"
    higher_is_better: bool = True
    margin: float = Field(0.0, ge=0)
    fail_on_reject: bool = True
    alias: str = "champion"

    @field_validator("alias")
    @classmethod
    def _alias(cls, alias: str) -> str:
        return check_alias("gate.alias", alias)


class TrackingConfig(_Section):
    """MLflow settings; the tracking server itself comes from MLFLOW_TRACKING_URI.

    Attributes:
        experiment: Experiment name; default the model name.
        artifact_location: Artifact root of a new experiment; default the
            server's, or `mlartifacts/<experiment>` beside a local `mlflow.db`.
    """

    experiment: str | None = None
    artifact_location: str | None = None

    @field_validator("experiment")
    @classmethod
    def _experiment(cls, experiment: str | None) -> str | None:
        return (
            experiment
            if experiment is None
            else check_name("tracking.experiment", experiment)
        )


class PipelineConfig(_Section):
    """A training pipeline: data, features, model, training, evaluation, gate.

    Attributes:
        model_name: Registered model name (and default experiment name).
        data: Where the examples come from.
        features: Feature columns as `ColumnSpec`s: a list (the estimator's
            `feature_columns`), or a mapping from argument name to list, e.g.
            `{linear_feature_columns: [...], dnn_feature_columns: [...]}`.
        estimator: The model.
        train, eval, gate, tracking: see their classes.
        work_dir: Local folder for splits, model_dirs, exports and plots.
    """

    model_name: str
    data: DataConfig
    features: ColumnSpecs
    estimator: EstimatorConfig
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    gate: GateConfig = GateConfig()
    tracking: TrackingConfig = TrackingConfig()
    work_dir: str = "runs"

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, name: str) -> str:
        # It names the run folder (work_dir/<model_name>/<run id>), the MLflow
        # registered model, experiment and runs, and the Prefect report key.
        return check_name("model_name", name)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> PipelineConfig:
        """Reads a config from a YAML file; errors name the file and the field."""
        with open(path, encoding="utf-8") as f:
            try:
                data = yaml.safe_load(f)
            except yaml.YAMLError as e:
                raise ValueError(f"{os.fspath(path)}: {_yaml_problem(e)}") from None
        if not isinstance(data, Mapping):
            raise ValueError(f"{os.fspath(path)}: expected a YAML mapping at the top.")
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise ValueError(f"{os.fspath(path)}: {_problems(e)}") from None

    @classmethod
    def load(cls, config: PipelineConfig | Mapping[str, Any] | str) -> PipelineConfig:
        """A config from itself, a mapping, or the path of a YAML file."""
        if isinstance(config, PipelineConfig):
            return config
        if isinstance(config, str | os.PathLike):
            return cls.from_yaml(config)
        return cls.model_validate(config)

    def override(self, **dotted: Any) -> PipelineConfig:
        """A copy with fields changed by dotted name: `override(**{"train.steps": 5})`.

        A mapping given for a whole section (`gate`, `train`, ...) is merged
        into it key by key; any other field, `estimator.args.optimizer` say,
        is replaced. Errors are one line naming the field.

        Example:
            >>> c = PipelineConfig.model_validate({"model_name": "m",
            ...     "data": {"uri": "d.csv", "label": "y"}, "features": [],
            ...     "estimator": {"type": "DNNClassifier"}})
            >>> c.override(**{"train.steps": 5}).train.steps
            5
            >>> c.override(gate={"margin": 0.1}).gate.alias
            'champion'
        """
        data = self.model_dump()
        for name, value in dotted.items():
            *parents, leaf = name.split(".")
            node, model = data, type(self)
            for part in parents:
                if part in node and node[part] is None:
                    node[part] = {}  # an optional section, e.g. eval.early_stopping
                if not isinstance(node.get(part), dict):
                    raise ValueError(f"config has no section {part!r} (in {name!r}).")
                node, model = node[part], _section_type(model, part)
            section = _section_type(model, leaf)
            if (
                section
                and isinstance(value, Mapping)
                and isinstance(node.get(leaf), dict)
            ):
                node[leaf] = merge_overrides(node[leaf], value)
            else:
                node[leaf] = value
        try:
            return type(self).model_validate(data)
        except ValidationError as e:
            raise ValueError(_problems(e)) from None

    @property
    def experiment(self) -> str:
        """The MLflow experiment name."""
        return self.tracking.experiment or self.model_name

    def flatten(self) -> dict[str, str]:
        """Every setting as `dotted.name -> text`, for MLflow params."""
        flat: dict[str, str] = {}
        _flatten(self.model_dump(mode="json"), "", flat)
        return flat


def _section_type(model: type | None, name: str) -> type | None:
    """The `_Section` class of field `name` of `model`, or None (not a section)."""
    fields = getattr(model, "model_fields", {})
    if name not in fields:
        return None
    for kind in (
        fields[name].annotation,
        *getattr(fields[name].annotation, "__args__", ()),
    ):
        if isinstance(kind, type) and issubclass(kind, _Section):
            return kind
    return None


def merge_overrides(
    base: Mapping[str, Any] | None, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`extra` on top of `base`, merging nested mappings key by key.

    How a deployment's own `overrides` and a run's `-p overrides=...` combine:
    a name set in both takes the run's value, every other name is kept.

    Example:
        >>> merge_overrides({"gate.fail_on_reject": False, "train": {"steps": 9}},
        ...                 {"train": {"batch_size": 8}, "train.seed": 1})
        {'gate.fail_on_reject': False, 'train': {'steps': 9, 'batch_size': 8}, 'train.seed': 1}
    """
    merged = dict(base or {})
    for key, value in (extra or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_overrides(merged[key], value)
        else:
            merged[key] = value
    return merged


def _problems(error: ValidationError) -> str:
    """One line per problem: `dotted.field: message (got value)`."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top)"
        line = f"{where}: {problem['msg']}"
        own = str(problem.get("ctx", {}).get("error", ""))
        if problem["type"] == "value_error" and own.startswith(f"{where}:"):
            lines.append(own)  # our validators' messages already name the field
            continue
        if problem["type"] != "missing":
            line += f" (got {_short(problem.get('input'))})"
        lines.append(line)
    return "; ".join(lines)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """`line L, column C: problem` of a YAML syntax error, on one line."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return f"YAML syntax error: {where}{problem}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            _flatten(item, f"{prefix}.{i}", out)
    else:
        out[prefix] = value if isinstance(value, str) else json.dumps(value)
