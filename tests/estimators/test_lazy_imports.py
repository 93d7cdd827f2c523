"""What a process that trains a canned estimator on in-memory data never imports.

pandas (pulled in by `pyarrow.dataset` and by `pyarrow.array`'s pandas checks),
`pyarrow.compute` and protobuf cost from tens of milliseconds to a fraction of a
second at start-up; only file sources, string labels and categorical columns,
and tf.Example parsing need them, and those import them on first use. Checked
in a fresh process: the test process has them loaded already.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIONAL = ("pandas", "pyarrow.dataset", "pyarrow.compute", "google.protobuf")

PROGRAM = textwrap.dedent(
    """
    import sys, tempfile
    import numpy as np
    import optax
    import estimators as est

    print("after import:", *[m for m in {optional!r} if m in sys.modules])
    x = {{"a": np.arange(8, dtype=np.float32), "b": np.ones(8, np.float32)}}
    y = np.arange(8, dtype=np.int32) % 3
    classifier = est.DNNClassifier(
        hidden_units=[4],
        feature_columns=[est.feature_column.numeric_column(n) for n in "ab"],
        n_classes=3,
        optimizer=optax.adagrad(0.1),
        model_dir=tempfile.mkdtemp(),
    )
    classifier.train(
        lambda: est.data.Dataset.from_tensor_slices((x, y)).shuffle(8).repeat().batch(4),
        steps=1,
    )
    print("after train:", *[m for m in {optional!r} if m in sys.modules])
    """
)


def test_training_on_in_memory_data_imports_no_pandas_nor_protobuf():
    env = dict(
        os.environ,
        PYTHONPATH=REPO,
        JAX_PLATFORMS="cpu",
        ESTIMATORS_COMPILATION_CACHE="off",
    )
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(optional=OPTIONAL)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    loaded = [line for line in done.stdout.splitlines() if line.startswith("after ")]
    assert loaded == ["after import:", "after train:"], done.stdout
