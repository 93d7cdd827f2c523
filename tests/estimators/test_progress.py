"""ProgressHook: a live bar in a terminal, plain lines in a pipe, fused steps."""

import io
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import estimators as est
from estimators.progress import ProgressHook, format_duration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A tiny classifier trained for 40 steps, with the hook on stderr or stdout.
PROGRAM = textwrap.dedent(
    """
    import sys
    import numpy as np
    import estimators as est
    from estimators import feature_column as fc

    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    classifier = est.DNNClassifier(
        hidden_units=[4], feature_columns=[fc.numeric_column("x", shape=(2,))],
        config=est.RunConfig(progress=False, steps_per_execution={spe}),
    )
    hook = est.ProgressHook(sys.stdout, every_secs={every})
    classifier.train(
        est.inputs.numpy_input_fn({{"x": x}}, y, batch_size=8, num_epochs=None,
                                   shuffle=True),
        max_steps=40, hooks=[hook],
    )
    """
)


def _context(step=0, last_step=None):
    return est.StepContext(
        mode="train", global_step=step, model_dir=None, last_step=last_step
    )


def test_plain_lines_count_fused_steps_and_show_total_loss_rate():
    out = io.StringIO()
    hook = ProgressHook(out, bar=False, every_secs=1e-9)
    context = _context(100, last_step=1100)
    hook.begin(context)
    for step in (350, 600):  # after_step sees steps in jumps of 250
        context.global_step = step
        context._set_outputs({"loss": np.float32(0.5)})
        hook.after_step(context)
    hook.end(context)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("train: step 350/1100 (25%), loss 0.5, ")
    assert lines[1].startswith("train: step 600/1100 (50%), loss 0.5, ")  # 500 / 1000
    assert re.search(r"steps/s, \d+:\d\d:\d\d left$", lines[1])
    assert "done in" in lines[-1]
    assert hook.steps_done == 500


def test_without_a_total_there_is_no_percentage():
    out = io.StringIO()
    hook = ProgressHook(out, bar=False, every_secs=1e-9)
    context = _context(0)
    hook.begin(context)
    context.global_step = 7
    context._set_outputs({"loss": 1.0})
    hook.after_step(context)
    assert out.getvalue().startswith("train: step 7, loss 1, ")


def test_lines_go_to_a_log_function():
    lines = []
    hook = ProgressHook(log=lines.append, every_secs=1e-9)
    context = _context(0, last_step=10)
    hook.begin(context)
    context.global_step = 10
    context._set_outputs({"loss": 2.0})
    hook.after_step(context)
    hook.end(context)
    assert lines[0].startswith("train: step 10/10 (100%), loss 2")


def test_every_secs_is_checked():
    with pytest.raises(ValueError, match="`every_secs` must be > 0, got 0"):
        ProgressHook(every_secs=0)


def test_format_duration():
    assert format_duration(59.6) == "0:01:00"
    assert format_duration(-1) == "?"


def _run(code, **popen):
    env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu", COLUMNS="120")
    return subprocess.run([sys.executable, "-c", code], env=env, timeout=300, **popen)


@pytest.mark.parametrize("spe", [1, 4])
def test_in_a_pipe_train_prints_plain_lines(spe):
    done = _run(PROGRAM.format(spe=spe, every=0.001), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines, done.stderr
    assert all(line.startswith("train: step ") for line in lines)
    assert "\x1b[" not in done.stdout  # no terminal escapes in a pipe
    assert lines[-1].startswith("train: step 40/40 (100%), loss ")
    assert "done in" in lines[-1]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_in_a_terminal_train_shows_a_live_bar():
    import pty

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", PROGRAM.format(spe=1, every=10.0)],
            env=dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu", COLUMNS="120"),
            stdin=follower,
            stdout=follower,
            stderr=subprocess.PIPE,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=300) == 0, process.stderr.read()
    finally:
        os.close(leader)
    screen = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in screen  # redrawn in place
    assert "40/40" in screen and "100%" in screen and "loss" in screen
    assert "steps/s" in screen
    assert "train: step" not in screen  # the bar, not plain lines


def test_run_config_progress_picks_the_hook():
    assert ProgressHook.from_setting(False) is None
    assert ProgressHook.from_setting("lines")._bar_wanted is False
    assert ProgressHook.from_setting("bar")._bar_wanted is True
    assert ProgressHook.from_setting("auto")._bar_wanted is None
    with pytest.raises(ValueError, match="`progress` must be True, False, 'auto'"):
        est.RunConfig(progress="yes")
