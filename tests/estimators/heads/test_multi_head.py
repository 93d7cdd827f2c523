"""MultiHead: tf.estimator 2.15's multi_head_test.py, ported, and a multi-task
Estimator."""

from __future__ import annotations

import numpy as np
import pytest

from estimators.heads import MultiHead, MultiLabelHead, RegressionHead

LOGITS = {
    "head1": np.array([[-10.0, 10.0], [-15.0, 10.0]], np.float32),
    "head2": np.array([[20.0, -20.0, 20.0], [-30.0, 20.0, -20.0]], np.float32),
}
LABELS = {
    "head1": np.array([[1, 0], [1, 1]], np.int64),
    "head2": np.array([[0, 1, 0], [1, 1, 0]], np.int64),
}
FEATURES = {"x": np.array([[42]], np.int32)}


def _two_heads(**kwargs):
    return (
        MultiLabelHead(n_classes=2, name="head1", **kwargs.get("one", {})),
        MultiLabelHead(n_classes=3, name="head2", **kwargs.get("two", {})),
    )


def test_tf_no_heads():
    with pytest.raises(ValueError, match=r"Must specify heads"):
        MultiHead(heads=[])


def test_tf_head_name_missing():
    with pytest.raises(ValueError, match=r"All given heads must have name specified"):
        MultiHead([MultiLabelHead(n_classes=2, name="head1"), MultiLabelHead(3)])


def test_tf_head_weights_wrong_size():
    with pytest.raises(
        ValueError,
        match=r"heads and head_weights must have the same size\. "
        r"Given len\(heads\): 2. Given len\(head_weights\): 1\.",
    ):
        MultiHead(list(_two_heads()), head_weights=[1.0])


def test_tf_name_and_logits_dimension():
    head = MultiHead(list(_two_heads()))
    assert head.name == "head1_head2"
    assert head.logits_dimension == 5


def test_tf_predict_two_heads_logits_dict_and_tensor():
    head = MultiHead(list(_two_heads()))
    by_dict = head.predictions(LOGITS)
    assert set(by_dict) == {
        f"{name}/{key}"
        for name in ("head1", "head2")
        for key in ("logits", "probabilities", "classes")
    }
    np.testing.assert_allclose(by_dict["head1/logits"], LOGITS["head1"])
    tensor = np.concatenate([LOGITS["head1"], LOGITS["head2"]], axis=1)
    by_tensor = head.predictions(tensor)
    np.testing.assert_allclose(
        by_tensor["head2/probabilities"], by_dict["head2/probabilities"]
    )


def test_tf_eval_two_heads_with_weights():
    head = MultiHead(list(_two_heads()), head_weights=[1.0, 2.0])
    spec = head.create_estimator_spec(FEATURES, "eval", LOGITS, LABELS)
    # For large logits, sigmoid cross entropy loss is approximated as:
    # loss = labels * (logits < 0) * (-logits) +
    #        (1 - labels) * (logits > 0) * logits =>
    # head1: expected_unweighted_loss = [[10., 10.], [15., 0.]]
    # loss = ((10 + 10) / 2 + (15 + 0) / 2) / 2 = 8.75
    # head2: expected_unweighted_loss = [[20., 20., 20.], [30., 0., 0]]
    # loss = ((20 + 20 + 20) / 3 + (30 + 0 + 0) / 3) / 2 = 15
    assert float(spec.loss) == pytest.approx(1.0 * 8.75 + 2.0 * 15.0, abs=1e-3)
    got = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
    assert got == pytest.approx(
        {
            "loss/head1": 8.75,
            "loss/head2": 15.0,
            # Average loss over examples.
            "average_loss/head1": 8.75,
            "average_loss/head2": 15.0,
            # auc and auc_pr cannot be reliably calculated for only 4-6 samples,
            # but this assert tests that the algorithm remains consistent.
            "auc/head1": 0.1667,
            "auc/head2": 0.3333,
            "auc_precision_recall/head1": 0.60228,
            "auc_precision_recall/head2": 0.40152,
        },
        rel=1e-3,
        abs=1e-3,
    )


@pytest.mark.parametrize("as_tensor", [False, True])
def test_tf_train_loss_two_heads_with_weights(as_tensor):
    # Use different example weighting for each head weighting.
    heads = _two_heads(
        one={"weight_column": "weights1"}, two={"weight_column": "weights2"}
    )
    head = MultiHead(list(heads), head_weights=[1.0, 2.0])
    logits = (
        np.concatenate([LOGITS["head1"], LOGITS["head2"]], axis=1)
        if as_tensor
        else LOGITS
    )
    features = {
        "x": np.array([[42]], np.int32),
        "weights1": np.array([[1.0], [2.0]], np.float32),
        "weights2": np.array([[2.0], [3.0]]),
    }
    loss = head.loss(LABELS, logits, features=features, mode="train")
    # loss of the first head is [[(10 + 10) / 2], [(15 + 0) / 2]] = [10, 7.5]
    # training_loss = (1 * 10 + 2 * 7.5) / 2 = 12.5
    # loss of the second head is [[(20 + 20 + 20) / 3], [(30 + 0 + 0) / 3]] = [20, 10]
    # training_loss = (2 * 20 + 3 * 10) / 2 = 35
    # head-weighted training_loss = 1 * 12.5 + 2 * 35 = 82.5
    assert float(loss) == pytest.approx(82.5, rel=1e-3, abs=1e-3)


def test_tf_train_loss_logits_tensor_wrong_shape():
    head = MultiHead(list(_two_heads()))
    logits = np.zeros((2, 6), np.float32)  # 2x6 instead of 2x5
    with pytest.raises(ValueError, match=r"Could not split logits"):
        head.loss(LABELS, logits, FEATURES, "train")


def test_tf_train_loss_logits_tensor_multi_dim():
    """Loss with multi-dimensional logits of shape [2, 2, 5]."""
    head = MultiHead(
        [
            RegressionHead(label_dimension=2, name="head1"),
            RegressionHead(label_dimension=3, name="head2"),
        ]
    )
    logits = np.array(
        [
            [[-1.0, 1.0, 2.0, -2.0, 2.0], [-1.0, 1.0, 2.0, -2.0, 2.0]],
            [[-1.5, 1.5, -2.0, 2.0, -2.0], [-1.5, 1.5, -2.0, 2.0, -2.0]],
        ],
        np.float32,
    )
    labels = {
        "head1": np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.5, 1.5], [1.5, 1.5]]]),
        "head2": np.array(
            [[[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], [[2.0, 2.0, 0.0], [2.0, 2.0, 0.0]]]
        ),
    }
    # loss1 = ((1+1)^2 + (0-1)^2 + (1+1)^2 + (0-1)^2 +
    #          (1.5+1.5)^2 + (1.5-1.5)^2 + (1.5+1.5)^2 + (1.5-1.5)^2) / 8 = 3.5
    # loss2 = ((0-2)^2 + (1+2)^2 + (0-2)^2 + (0-2)^2 + (1+2)^2 + (0-2)^2 +
    #          (2+2)^2 + (2-2)^2 + (0+2)^2 + (2+2)^2 + (2-2)^2 + (0+2)^2) / 12 = 6.167
    loss = head.loss(labels, logits, features={}, mode="train")
    assert float(loss) == pytest.approx(3.5 + 6.167, rel=1e-3, abs=1e-3)


def test_tf_eval_with_regularization_losses():
    head = MultiHead(list(_two_heads()))
    spec = head.create_estimator_spec(
        FEATURES, "eval", LOGITS, LABELS, regularization_losses=[1.5, 0.5]
    )
    # loss = 8.75 + 15 + (1.5 + 0.5)
    assert float(spec.loss) == pytest.approx(25.75, abs=1e-3)
    got = {k: float(m.result()) for k, m in spec.eval_metric_ops.items()}
    assert got["regularization_loss/head1_head2"] == pytest.approx(2.0)


def test_tf_loss_reduction_must_be_same():
    head = MultiHead(
        [
            MultiLabelHead(2, loss_reduction="sum", name="head1"),
            MultiLabelHead(3, name="head2"),
        ]
    )
    with pytest.raises(ValueError, match="The loss_reduction must be the same"):
        head.loss_reduction  # noqa: B018


def test_a_multi_task_dnn_estimator(tmp_path):
    from support import fast_config

    import estimators as est
    from estimators import feature_column as fc
    from estimators.heads import BinaryClassHead

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    labels = {
        "up": (x[:, 0] > 0).astype(np.int32),
        "size": np.array(["small", "big"])[(x[:, 1] > 0).astype(int)],
        "value": (2 * x[:, 0] - x[:, 1]).astype(np.float32),
    }
    head = MultiHead(
        [
            BinaryClassHead(
                weight_column=fc.numeric_column("w", default_value=1.0), name="up"
            ),
            BinaryClassHead(label_vocabulary=["small", "big"], name="size"),
            RegressionHead(name="value"),
        ]
    )
    estimator = est.canned.DNNEstimator(
        head,
        [8],
        [fc.numeric_column("x", shape=2)],
        model_dir=str(tmp_path),
        optimizer="Adam",
        config=fast_config(random_seed=1),
    )
    w = np.where(np.arange(40) % 5 == 0, np.nan, 2.0)  # NaN: the column's default
    estimator.train(lambda: ({"x": x, "w": w}, labels), steps=3)
    results = estimator.evaluate(lambda: ({"x": x, "w": w}, labels))
    assert {
        "loss/up",
        "loss/size",
        "loss/value",
        "auc/up",
        "average_loss/value",
    } <= set(results)
    prediction = next(estimator.predict(lambda: {"x": x}))
    assert prediction["size/classes"][0] in ("small", "big")
    assert prediction["up/classes"][0] in ("0", "1")
    assert prediction["value/predictions"].shape == (1,)
