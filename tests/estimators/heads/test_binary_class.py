"""BinaryClassHead: loss, predictions and metrics against hand-computed values."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pytest

import estimators as est
from estimators.heads import BinaryClassHead

LOGITS = jnp.array([[0.0], [2.0], [-1.0]])
LABELS = np.array([0, 1, 1])
# Per-example sigmoid cross-entropy, log(1 + exp(-x)) for z = 1, log(1 + exp(x)) for 0:
# x=0, z=0: log 2 = 0.693147; x=2, z=1: 0.126928; x=-1, z=1: 1.313262.


def results(spec):
    return {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}


def test_eval_spec_has_tf_keys_and_hand_computed_values():
    spec = BinaryClassHead().create_estimator_spec({}, "eval", LOGITS, LABELS)
    assert float(spec.loss) == pytest.approx(0.711112, abs=1e-5)  # 2.133337 / 3
    got = results(spec)
    assert set(got) == {
        "accuracy",
        "accuracy_baseline",
        "auc",
        "auc_precision_recall",
        "average_loss",
        "label/mean",
        "precision",
        "prediction/mean",
        "recall",
    }
    assert got["average_loss"] == pytest.approx(0.711112, abs=1e-5)
    # class ids (logit > 0): 0, 1, 0 against labels 0, 1, 1
    assert got["accuracy"] == pytest.approx(2 / 3)
    assert got["precision"] == pytest.approx(1.0)  # tp 1, fp 0
    assert got["recall"] == pytest.approx(0.5)  # tp 1, fn 1
    assert got["label/mean"] == pytest.approx(2 / 3)
    assert got["accuracy_baseline"] == pytest.approx(2 / 3)  # max(2/3, 1 - 2/3)
    # (0.5 + 0.880797 + 0.268941) / 3
    assert got["prediction/mean"] == pytest.approx(0.549913, abs=1e-5)
    # positives score 0.88 and 0.27, the negative 0.5: one of two pairs is ordered
    assert got["auc"] == pytest.approx(0.5, abs=1e-5)


def test_perfectly_separated_scores_have_unit_aucs():
    spec = BinaryClassHead().create_estimator_spec(
        {}, "eval", jnp.array([[-3.0], [-1.0], [2.0]]), np.array([0, 0, 1])
    )
    got = results(spec)
    assert got["auc"] == pytest.approx(1.0, abs=1e-4)
    assert got["auc_precision_recall"] == pytest.approx(1.0, abs=1e-4)


def test_weights_scale_the_loss_and_the_metrics():
    head = BinaryClassHead(weight_column="w")
    features = {"w": jnp.array([1.0, 3.0, 0.0])}
    spec = head.create_estimator_spec(features, "eval", LOGITS, LABELS)
    # weighted sum 0.693147 * 1 + 0.126928 * 3 + 1.313262 * 0 = 1.073931
    assert float(spec.loss) == pytest.approx(1.073931 / 3, abs=1e-5)  # over batch size
    got = results(spec)
    assert got["average_loss"] == pytest.approx(1.073931 / 4, abs=1e-5)  # over weights
    assert got["accuracy"] == pytest.approx(1.0)  # (1 + 3 + 0 * 0) / 4
    assert got["label/mean"] == pytest.approx(0.75)  # (0 + 3 + 0) / 4
    summed = BinaryClassHead(weight_column="w", loss_reduction=est.losses.Reduction.SUM)
    assert float(summed.loss(LABELS, LOGITS, features)) == pytest.approx(
        1.073931, abs=1e-5
    )


def test_predictions_have_tf_keys():
    predictions = BinaryClassHead().predictions(LOGITS)
    assert set(predictions) == {
        "logits",
        "logistic",
        "probabilities",
        "class_ids",
        "classes",
        "all_class_ids",
        "all_classes",
    }
    np.testing.assert_allclose(
        predictions["logistic"][:, 0], [0.5, 0.880797, 0.268941], atol=1e-6
    )
    np.testing.assert_allclose(
        predictions["probabilities"][1], [0.119203, 0.880797], atol=1e-6
    )  # [1 - p, p]
    assert predictions["class_ids"].tolist() == [[0], [1], [0]]
    assert predictions["all_class_ids"].tolist() == [[0, 1]] * 3
    assert set(BinaryClassHead().predictions(LOGITS, ["logistic"])) == {"logistic"}


def test_thresholds_add_per_threshold_metrics():
    head = BinaryClassHead(thresholds=[0.3, 0.9])
    got = results(head.create_estimator_spec({}, "eval", LOGITS, LABELS))
    # probabilities 0.5, 0.88, 0.27; at 0.3 predicted 1, 1, 0 against labels 0, 1, 1
    assert got["accuracy/positive_threshold_0.3"] == pytest.approx(1 / 3)
    assert got["precision/positive_threshold_0.3"] == pytest.approx(0.5)  # 1 / (1 + 1)
    assert got["recall/positive_threshold_0.3"] == pytest.approx(0.5)  # 1 / (1 + 1)
    assert got["recall/positive_threshold_0.9"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"`thresholds` must be in \(0, 1\), got 1.5"):
        BinaryClassHead(thresholds=[1.5])


def test_label_vocabulary_round_trip():
    head = BinaryClassHead(label_vocabulary=["no", "yes"])
    assert head.transform_labels(np.array(["yes", "no"])).tolist() == [1, 0]
    assert head.transform_labels(pa.array(["no", "yes"])).tolist() == [0, 1]
    named = head.transform_predictions(
        {k: np.asarray(v) for k, v in head.predictions(LOGITS).items()}
    )
    assert named["classes"].tolist() == [["no"], ["yes"], ["no"]]
    assert named["all_classes"].tolist() == [["no", "yes"]] * 3
    with pytest.raises(ValueError, match=r"label 'maybe' \(row 1\) is not in"):
        head.transform_labels(np.array(["yes", "maybe"]))
    with pytest.raises(ValueError, match="labels are numbers"):
        head.transform_labels(np.array([0, 1]))


def test_without_vocabulary_classes_are_id_strings_and_labels_checked():
    head = BinaryClassHead()
    named = head.transform_predictions({"classes": np.array([[1], [0]])})
    assert named["classes"].tolist() == [["1"], ["0"]]
    assert head.transform_labels(np.array([True, False])).tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\), got \[2\] \(row 1\)"):
        head.transform_labels(np.array([[0], [2]]))
    with pytest.raises(ValueError, match="pass label_vocabulary"):
        head.transform_labels(np.array(["a", "b"]))


def test_bad_arguments_and_shapes_are_named():
    with pytest.raises(ValueError, match="`loss_reduction` must be one of"):
        BinaryClassHead(loss_reduction="none")
    with pytest.raises(ValueError, match=r"expected \[batch_size, 1\]"):
        BinaryClassHead().predictions(jnp.zeros((3, 2)))
    with pytest.raises(
        ValueError, match=r"weight_column 'w': weights shape must be \[3\] or \[3, 1\]"
    ):
        BinaryClassHead(weight_column="w").loss(LABELS, LOGITS, {"w": jnp.ones((3, 2))})
    with pytest.raises(ValueError, match="needs an `optimizer`"):
        BinaryClassHead().create_estimator_spec({}, "train", LOGITS, LABELS)


# -- tf.estimator 2.15's binary_class_head_test.py, ported --------------------------

TF_LOGITS = np.array([[45.0], [-41.0]], np.float32)
TF_LABELS = np.array([[1], [1]], np.int32)


def test_tf_eval_metric_ops_with_head_name():
    head = BinaryClassHead(name="some_binary_head")
    spec = head.create_estimator_spec({}, "eval", TF_LOGITS, TF_LABELS)
    assert set(spec.eval_metric_ops) == {
        f"{key}/some_binary_head"
        for key in (
            "average_loss",
            "accuracy",
            "precision",
            "recall",
            "prediction/mean",
            "label/mean",
            "accuracy_baseline",
            "auc",
            "auc_precision_recall",
        )
    }


def test_tf_eval_with_regularization_losses():
    spec = BinaryClassHead().create_estimator_spec(
        {}, "eval", TF_LOGITS, TF_LABELS, regularization_losses=[1.5, 0.5]
    )
    # unregularized_loss = sum(cross_entropy(labels, logits)) / batch_size
    #                    = sum(0, 41) / 2 = 20.5; regularization = 1.5 + 0.5 = 2
    assert float(spec.loss) == pytest.approx(20.5 + 2.0, rel=1e-6)
    assert results(spec) == pytest.approx(
        {
            "average_loss": 20.5,
            "regularization_loss": 2.0,
            "accuracy": 1.0 / 2,
            "precision": 1.0,
            "recall": 1.0 / 2,
            "prediction/mean": 1.0 / 2,
            "label/mean": 2.0 / 2,
            "accuracy_baseline": 2.0 / 2,
            "auc": 0.0,
            "auc_precision_recall": 1.0,
        },
        rel=1e-6,
        abs=1e-6,
    )


SOFT_LOGITS = np.array([[0.5], [-0.3]], np.float32)
SOFT_LABELS = np.array([[0.8], [0.4]], np.float32)


def test_tf_float_labels_train_create_loss():
    head = BinaryClassHead()
    labels = head.transform_labels(SOFT_LABELS)
    # loss = cross_entropy(labels, logits)
    #      = [-0.8 * log(sigmoid(0.5)) -0.2 * log(sigmoid(-0.5)),
    #         -0.4 * log(sigmoid(-0.3)) -0.6 * log(sigmoid(0.3))]
    #      = [0.57407698418, 0.67435524446]
    # training_loss = (0.57407698418 + 0.67435524446) / 2 = 0.62421611432
    loss = head.loss(labels, SOFT_LOGITS, {"x": np.array([[42.0]])}, "train")
    assert float(loss) == pytest.approx(0.62421611432, rel=1e-6, abs=1e-6)


def test_tf_float_labels_eval():
    head = BinaryClassHead()
    spec = head.create_estimator_spec(
        {}, "eval", SOFT_LOGITS, head.transform_labels(SOFT_LABELS)
    )
    # loss = 1.2484322 / 2 = 0.6242161 (delta 1e-5 in tf)
    assert float(spec.loss) == pytest.approx(0.6242161, abs=1e-5)
    assert results(spec)["average_loss"] == pytest.approx(0.6242161, abs=1e-5)


def test_tf_float_labels_invalid_values():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\], got \[1.2"):
        BinaryClassHead().transform_labels(np.array([[1.2], [0.4]], np.float32))


# Logits and labels of shape [2, 2, 1], weights [2, 2].
MULTI_DIM_LOGITS = np.array([[[10], [-10]], [[12], [-12]]], np.float32)
MULTI_DIM_LABELS = np.array([[[0], [0]], [[1], [1]]], np.float64)
MULTI_DIM_WEIGHTS = np.array([[1.0, 1.5], [2.0, 2.5]], np.float32)


def test_tf_multi_dim_weighted_train_create_loss():
    head = BinaryClassHead(weight_column="weights")
    loss = head.loss(
        MULTI_DIM_LABELS, MULTI_DIM_LOGITS, {"weights": MULTI_DIM_WEIGHTS}, "train"
    )
    # unreduced_loss = cross_entropy(labels, logits) = [[10, 0], [0, 12]].
    # Weights are reshaped to [2, 2, 1] to match logits.
    # training_loss = (1*10 + 1.5*0 + 2*0 + 2.5*12) / 2*2 = 40 / 4 = 10
    assert float(loss) == pytest.approx(10.0, rel=1e-2, abs=1e-2)


def test_tf_multi_dim_weighted_eval():
    head = BinaryClassHead(weight_column="weights")
    spec = head.create_estimator_spec(
        {"weights": MULTI_DIM_WEIGHTS}, "eval", MULTI_DIM_LOGITS, MULTI_DIM_LABELS
    )
    total = float(np.sum(MULTI_DIM_WEIGHTS))
    assert float(spec.loss) == pytest.approx(10.0, rel=1e-2, abs=1e-2)
    assert results(spec) == pytest.approx(
        {
            # weighted_sum_loss = 1*10 + 1.5*0 + 2*0 + 2.5*12 = 40
            "average_loss": 40.0 / total,
            "accuracy": (1.0 * 0.0 + 1.5 * 1.0 + 2.0 * 1.0 + 2.5 * 0.0) / total,
            "precision": 2.0 / 3.0,
            "recall": 2.0 / 4.5,
            "prediction/mean": (1.0 * 1 + 1.5 * 0 + 2.0 * 1 + 2.5 * 0) / total,
            "label/mean": (1.0 * 0 + 1.5 * 0 + 2.0 * 1 + 2.5 * 1) / total,
            "accuracy_baseline": (1.0 * 0 + 1.5 * 0 + 2.0 * 1 + 2.5 * 1) / total,
            "auc": 0.5222,
            "auc_precision_recall": 0.6582,
        },
        rel=1e-2,
        abs=1e-2,
    )
    predictions = spec.predictions
    assert predictions["class_ids"].shape == (2, 2, 1)
    assert predictions["probabilities"].shape == (2, 2, 2)


@pytest.mark.parametrize(
    "weights",
    [
        np.array([[1.0], [2.0]], np.float32),  # wrong inner dim
        np.array([[[1.0, 1.1], [1.5, 1.6]], [[2.0, 2.1], [2.5, 2.6]]]),  # outer
    ],
)
def test_tf_multi_dim_train_weights_of_the_wrong_shape(weights):
    head = BinaryClassHead(weight_column="weights")
    with pytest.raises(ValueError, match="weights shape must be"):
        head.loss(MULTI_DIM_LABELS, MULTI_DIM_LOGITS, {"weights": weights}, "train")


def test_soft_labels_count_fractionally_in_auc_as_keras_does():
    head = BinaryClassHead()
    spec = head.create_estimator_spec(
        {}, "eval", SOFT_LOGITS, head.transform_labels(SOFT_LABELS)
    )
    # sigmoid(0.5) = 0.6225 carries 0.8 of a positive and 0.2 of a negative,
    # sigmoid(-0.3) = 0.4256 carries 0.4 and 0.6. Ordered (positive, negative)
    # pairs: 0.8 * 0.6 = 0.48, ties count half: 0.8 * 0.2 / 2 + 0.4 * 0.6 / 2 = 0.2;
    # AUC = 0.68 / (1.2 * 0.8) = 0.7083.
    got = results(spec)
    assert got["auc"] == pytest.approx(0.7083, abs=1e-3)
    assert got["label/mean"] == pytest.approx(0.6)  # (0.8 + 0.4) / 2
    assert got["accuracy_baseline"] == pytest.approx(0.6)  # max(0.6, 1 - 0.6)
    # 0/1 labels give metrics.auc's value.
    hard = BinaryClassHead().create_estimator_spec({}, "eval", LOGITS, LABELS)
    assert results(hard)["auc"] == pytest.approx(
        float(est.metrics.auc(LABELS[:, None], 1 / (1 + np.exp(-LOGITS))).result()),
        abs=1e-6,
    )


def test_rank_3_logits_in_an_estimator_are_exact_however_batched(tmp_path):
    import flax.linen as nn
    import optax

    head = BinaryClassHead(weight_column="w")

    def model_fn(features, labels, mode):
        # One logit per (example, time step): [B, 2, 1].
        logits = nn.Dense(1)(features["x"][..., None])
        return head.create_estimator_spec(
            features, mode, logits, labels, optimizer=optax.sgd(0.1)
        )

    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2)).astype(np.float32)
    data = {"x": x, "w": rng.uniform(0.5, 2.0, (10, 2)).astype(np.float32)}
    labels = (x > 0).astype(np.int32)  # [B, 2]: one label per time step

    def batches(size):
        def input_fn():
            for i in range(0, 10, size):
                yield (
                    {k: v[i : i + size] for k, v in data.items()},
                    labels[i : i + size],
                )

        return input_fn

    estimator = est.Estimator(
        model_fn,
        str(tmp_path),
        label_transform=head.transform_labels,
        prediction_transform=head.transform_predictions,
    )
    estimator.train(batches(10), steps=3)
    whole = estimator.evaluate(batches(10))
    padded = estimator.evaluate(batches(4))  # 4 + 4 + 2 (padded to 4, masked)
    for key in ("average_loss", "accuracy", "auc", "label/mean"):
        assert padded[key] == pytest.approx(whole[key], abs=1e-6), key
    prediction = next(estimator.predict(lambda: {"x": x[:3]}))
    assert prediction["class_ids"].shape == (2, 1)
