"""Pre-made estimators with tf.estimator's names, arguments and defaults.

Each is a head (`est.heads`) plus a closure over a shared model function
(`dnn_model_fn`, `linear_model_fn`, `dnn_linear_combined_model_fn`,
`baseline_model_fn`), passed to `est.Estimator` with its feature columns.

Example:
    >>> from estimators import canned, feature_column as fc
    >>> canned.DNNClassifier([10, 10], [fc.numeric_column("x")], n_classes=3).model_dir
    ... # doctest: +ELLIPSIS
    '...'
"""

from estimators.canned.baseline import (
    BaselineClassifier,
    BaselineEstimator,
    BaselineRegressor,
)
from estimators.canned.dnn import DNNClassifier, DNNEstimator, DNNRegressor
from estimators.canned.dnn_linear_combined import (
    DNNLinearCombinedClassifier,
    DNNLinearCombinedEstimator,
    DNNLinearCombinedRegressor,
)
from estimators.canned.linear import LinearClassifier, LinearEstimator, LinearRegressor
from estimators.canned.optimizers import ftrl, get_optimizer

__all__ = [
    "BaselineClassifier",
    "BaselineEstimator",
    "BaselineRegressor",
    "DNNClassifier",
    "DNNEstimator",
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedEstimator",
    "DNNLinearCombinedRegressor",
    "DNNRegressor",
    "LinearClassifier",
    "LinearEstimator",
    "LinearRegressor",
    "ftrl",
    "get_optimizer",
]
