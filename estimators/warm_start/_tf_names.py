"""Our variable names and the names tf.estimator 2.15's canned models gave them.

Ours are flax collection paths (`params/dnn/hiddenlayer_0/kernel`); the canned
estimators already use tf's scopes, so most names only lose the collection.
The differences (tf 2.15's `_DNNModelV2` and Keras layers):

| ours | tf.estimator 2.15 |
|---|---|
| `params/dnn/input_layer/<col>/embedding_weights` | `dnn/input_from_feature_columns/input_layer/<col>/embedding_weights` |
| `params/<...>/input_layer/<shared>/embedding_weights` | `<shared>` (a shared embedding's collection name) |
| `params/dnn/batchnorm_<i>/scale`, `bias` | `dnn/hiddenlayer_<i>/batchnorm_<i>/gamma`, `beta` |
| `batch_stats/dnn/batchnorm_<i>/mean`, `var` | `dnn/hiddenlayer_<i>/batchnorm_<i>/moving_mean`, `moving_variance` |
"""

from __future__ import annotations

import re

__all__ = ["aliases", "names_from_tf", "tf_names"]

_COLLECTIONS = ("params/", "batch_stats/")
_BATCH_NORM = {
    ("params", "scale"): "gamma",
    ("params", "bias"): "beta",
    ("batch_stats", "mean"): "moving_mean",
    ("batch_stats", "var"): "moving_variance",
}


def _without_collection(name: str) -> tuple[str, str]:
    for prefix in _COLLECTIONS:
        if name.startswith(prefix):
            return prefix[:-1], name[len(prefix) :]
    return "", name


def tf_names(name: str) -> list[str]:
    """tf.estimator's names for our variable `name`, the likeliest first.

    Example:
        >>> tf_names("params/dnn/batchnorm_0/scale")
        ['dnn/hiddenlayer_0/batchnorm_0/gamma', 'dnn/batchnorm_0/scale']
        >>> tf_names("params/linear/linear_model/bias_weights")
        ['linear/linear_model/bias_weights']
    """
    collection, rest = _without_collection(name)
    names = []
    found = re.fullmatch(r"(.*dnn)/batchnorm_(\d+)/(\w+)", rest)
    if found and (collection, found.group(3)) in _BATCH_NORM:
        scope, i, leaf = found.groups()
        tf_leaf = _BATCH_NORM[(collection, leaf)]
        names.append(f"{scope}/hiddenlayer_{i}/batchnorm_{i}/{tf_leaf}")
    found = re.fullmatch(r"(.*dnn)/input_layer/(.+)", rest)
    if found:
        names.append(
            f"{found.group(1)}/input_from_feature_columns/input_layer/{found.group(2)}"
        )
    names.append(rest)
    found = re.fullmatch(r".*input_layer/([^/]+)/embedding_weights", rest)
    if found:
        names.append(found.group(1))
    return names


def aliases(name: str) -> list[str]:
    """The spellings a user may give for our variable `name`: ours, without its
    collection, and tf.estimator's.

    Example:
        >>> aliases("params/dnn/input_layer/x_embedding/embedding_weights")[1:]
        ['dnn/input_layer/x_embedding/embedding_weights', \
'dnn/input_from_feature_columns/input_layer/x_embedding/embedding_weights']
    """
    _, rest = _without_collection(name)
    return list(dict.fromkeys([name, rest, tf_names(name)[0]]))


def names_from_tf(name: str) -> list[str]:
    """Our names for a tf.estimator name (the inverse of `tf_names`).

    Example:
        >>> names_from_tf("dnn/hiddenlayer_1/batchnorm_1/moving_variance")
        ['batch_stats/dnn/batchnorm_1/var']
        >>> names_from_tf("dnn/input_from_feature_columns/input_layer/x/w")[0]
        'params/dnn/input_layer/x/w'
    """
    found = re.fullmatch(r"(.*dnn)/hiddenlayer_(\d+)/batchnorm_\2/(\w+)", name)
    if found:
        scope, i, tf_leaf = found.groups()
        for (collection, leaf), spelled in _BATCH_NORM.items():
            if spelled == tf_leaf:
                return [f"{collection}/{scope}/batchnorm_{i}/{leaf}"]
    name = name.replace("/input_from_feature_columns/input_layer/", "/input_layer/")
    return [f"{collection}{name}" for collection in _COLLECTIONS]
