"""The canned estimators' signatures are tf.estimator 2.15's."""

from __future__ import annotations

import inspect

from estimators import canned


def test_canned_signatures_are_tf_2_15s_in_order():
    # tf 2.15's V2 __init__ arguments, in order (positional calls port unchanged);
    # ours may only add arguments at the end.
    tf = {
        "DNNClassifier": "hidden_units feature_columns model_dir n_classes weight_column "
        "label_vocabulary optimizer activation_fn dropout config warm_start_from "
        "loss_reduction batch_norm",
        "DNNRegressor": "hidden_units feature_columns model_dir label_dimension "
        "weight_column optimizer activation_fn dropout config warm_start_from "
        "loss_reduction batch_norm",
        "DNNEstimator": "head hidden_units feature_columns model_dir optimizer "
        "activation_fn dropout config warm_start_from batch_norm",
        "LinearClassifier": "feature_columns model_dir n_classes weight_column "
        "label_vocabulary optimizer config warm_start_from loss_reduction "
        "sparse_combiner",
        "LinearRegressor": "feature_columns model_dir label_dimension weight_column "
        "optimizer config warm_start_from loss_reduction sparse_combiner",
        "LinearEstimator": "head feature_columns model_dir optimizer config "
        "sparse_combiner warm_start_from",
        "DNNLinearCombinedClassifier": "model_dir linear_feature_columns "
        "linear_optimizer dnn_feature_columns dnn_optimizer dnn_hidden_units "
        "dnn_activation_fn dnn_dropout n_classes weight_column label_vocabulary "
        "config warm_start_from loss_reduction batch_norm linear_sparse_combiner",
        "DNNLinearCombinedRegressor": "model_dir linear_feature_columns "
        "linear_optimizer dnn_feature_columns dnn_optimizer dnn_hidden_units "
        "dnn_activation_fn dnn_dropout label_dimension weight_column config "
        "warm_start_from loss_reduction batch_norm linear_sparse_combiner",
        "DNNLinearCombinedEstimator": "head model_dir linear_feature_columns "
        "linear_optimizer dnn_feature_columns dnn_optimizer dnn_hidden_units "
        "dnn_activation_fn dnn_dropout config batch_norm linear_sparse_combiner",
        "BaselineClassifier": "model_dir n_classes weight_column label_vocabulary "
        "optimizer config loss_reduction",
        "BaselineRegressor": "model_dir label_dimension weight_column optimizer "
        "config loss_reduction",
        "BaselineEstimator": "head model_dir optimizer config",
    }
    for name, arguments in tf.items():
        ours = list(inspect.signature(getattr(canned, name)).parameters)
        expected = arguments.split()
        assert ours[: len(expected)] == expected, name
