"""tf's `SessionRunHook` protocol, adapted onto `est.Hook`, so tf hooks port.

A tf hook ports by changing its imports and naming tensors instead of holding
them: `before_run` returns `SessionRunArgs(fetches)` whose fetches are names
(a string, or a dict / list / tuple of them) of what the model_fn computes:

- a key of the TRAIN (or, in evaluate, EVAL) spec's `predictions` (the
  compiled step then outputs it),
- an `est.summary.scalar` name, `"loss"`, or `"global_step"` (as tf's read of
  the global step inside `session.run`: the value before the step ran).

`after_run` gets `run_values.results` shaped like the fetches, as numpy values
(read from the device only when the hook looks at them). `session` is a small
stand-in whose `run(names)` returns the last step's values. Steps run fused
between the host actions (see docs/ARCHITECTURE.md): a hook that overrides
`before_run` or `after_run` sees every step, as in tf, unless it says otherwise
through `steps_until_needed`; the built-ins (`basic_session_run_hooks`) declare
their cadence there.

Example:
    >>> class LossAt(SessionRunHook):
    ...     def before_run(self, run_context):
    ...         return SessionRunArgs({"loss": "loss", "step": "global_step"})
    ...     def after_run(self, run_context, run_values):
    ...         print(run_values.results)
    >>> from estimators.hooks import StepContext
    >>> hook, context = LossAt().as_hook(), StepContext(mode="train", global_step=0,
    ...                                                 model_dir=None)
    >>> hook.begin(context); hook.before_step(context)
    >>> context.global_step = 1; context._set_outputs({"loss": 0.5})
    >>> hook.after_step(context)
    {'loss': np.float32(0.5), 'step': np.int64(0)}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from estimators.hooks import Hook, StepContext

__all__ = [
    "HookSession",
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "fetch_names",
]

_NAMES = "'loss', 'global_step', an est.summary.scalar name or a prediction key"


class SessionRunArgs(NamedTuple):
    """What a hook's `before_run` asks of the coming step: tensors by name.

    Attributes:
        fetches: A name, or a dict / list / tuple of names (nested as in tf).
        feed_dict: Must be None: the compiled steps take their inputs from the
            input_fn only.
        options: Ignored (tf's `RunOptions`).
    """

    fetches: Any
    feed_dict: Any = None
    options: Any = None


class SessionRunValues:
    """The results of the fetches a hook asked for, shaped like them.

    `results` is read from the device when first accessed, so a hook that only
    looks at it on some steps costs no synchronisation on the others.
    """

    def __init__(
        self, results: Any = None, options: Any = None, run_metadata: Any = None
    ) -> None:
        self._results = results
        self._resolve: Callable[[], Any] | None = None
        self.options = options
        self.run_metadata = run_metadata

    @classmethod
    def lazy(cls, resolve: Callable[[], Any]) -> SessionRunValues:
        """Values computed by `resolve()` on first access."""
        values = cls()
        values._resolve = resolve
        return values

    @property
    def results(self) -> Any:
        if self._resolve is not None:
            self._results, self._resolve = self._resolve(), None
        return self._results


class HookSession:
    """The stand-in for tf's `Session` that hooks get: reads the last step's values.

    `run(fetches)` resolves names like `SessionRunArgs` fetches, from the last
    step run ("global_step" is the current one). Beyond tf it tells the run's
    `mode`, `model_dir`, `global_step` and metric `writer`.
    """

    def __init__(self, context: StepContext) -> None:
        self._context = context

    @property
    def mode(self) -> str:
        return self._context.mode

    @property
    def model_dir(self) -> str | None:
        return self._context.model_dir

    @property
    def writer(self) -> Any:
        """The Estimator's metric writer (None outside training)."""
        return self._context.writer

    @property
    def global_step(self) -> int:
        return self._context.global_step

    def summaries(self) -> dict[str, float]:
        """The last step's loss and `est.summary.scalar` values (synchronises)."""
        return dict(self._context.outputs)

    def run(self, fetches: Any, feed_dict: Any = None, **_: Any) -> Any:
        """The last step's values of `fetches` (names), shaped like them."""
        if feed_dict:
            raise ValueError(_FEED_ERROR)
        context = self._context
        return _resolve(fetches, lambda name: _lookup(context, name, stale=False))


_FEED_ERROR = (
    "feed_dict has no meaning here: the compiled steps take their inputs from the "
    "input_fn only; compute the values there (e.g. in Dataset.map)."
)


class SessionRunContext:
    """What a hook sees of one run: the session stand-in and a stop switch.

    Beyond tf, `global_step` is the current global_step: before the step in
    `before_run`, after it in `after_run`.
    """

    def __init__(self, original_args: SessionRunArgs, session: HookSession) -> None:
        self.original_args = original_args
        self.session = session
        self.global_step: int | None = getattr(session, "global_step", None)
        self._stop_requested = False

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def request_stop(self) -> None:
        """Asks the loop to stop after this step."""
        self._stop_requested = True


class SessionRunHook:
    """tf's hook protocol; pass instances wherever `est.Hook`s are taken.

    Override `begin()`, `after_create_session(session, coord)`,
    `before_run(run_context)`, `after_run(run_context, run_values)` and
    `end(session)` as in tf; fetches are names (see the module docstring).
    """

    def begin(self) -> None:
        """Called once before the first step."""

    def after_create_session(self, session: HookSession, coord: Any) -> None:
        """Called after `begin`; `session` is a `HookSession`, `coord` None."""

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        """Called before each run; returns the names to fetch, or None."""
        return None

    def after_run(
        self, run_context: SessionRunContext, run_values: SessionRunValues
    ) -> None:
        """Called after each run with the fetched values."""

    def end(self, session: HookSession) -> None:
        """Called once at the end."""

    def tensor_names(self) -> tuple[str, ...]:
        """Names to fetch from the first step on, e.g. for `session.run` in `end`.

        Names `before_run` returns are fetched from the step it precedes; the
        first time a name is asked costs one more compilation, unless declared
        here.
        """
        return ()

    def steps_until_needed(self, global_step: int) -> int | None:
        """How many steps may run fused from `global_step` (see `est.Hook`).

        1 (every step, as in tf) for a hook that overrides `before_run` or
        `after_run`, else None. Under fused steps `after_run` sees the last
        step's values.
        """
        cls = type(self)
        if (
            cls.before_run is SessionRunHook.before_run
            and cls.after_run is SessionRunHook.after_run
        ):
            return None
        return 1

    def as_hook(self) -> Hook:
        """This hook as an `est.Hook` (what the loops run)."""
        return _Adapter(self)


def fetch_names(fetches: Any) -> list[str]:
    """The names in a fetches structure (a name, dict, list or tuple of them).

    Example:
        >>> fetch_names({"a": "loss", "b": ["probabilities", "logits:0"]})
        ['loss', 'probabilities', 'logits']
    """
    names: list[str] = []
    _resolve(fetches, lambda name: names.append(name))
    return names


def _resolve(fetches: Any, lookup: Callable[[str], Any]) -> Any:
    if fetches is None:
        return None
    if isinstance(fetches, str):
        return lookup(fetches[:-2] if fetches.endswith(":0") else fetches)
    if isinstance(fetches, Mapping):
        return {key: _resolve(value, lookup) for key, value in fetches.items()}
    if isinstance(fetches, list | tuple):
        values = [_resolve(value, lookup) for value in fetches]
        return values if isinstance(fetches, list) else tuple(values)
    raise TypeError(
        f"fetches must be tensor names ({_NAMES}), or a dict, list or tuple of "
        f"them, got {type(fetches).__name__}: in a port, replace each tensor by "
        "its name."
    )


def _lookup(context: StepContext, name: str, *, stale: bool) -> Any:
    if name == "global_step":
        return np.int64(context.global_step - (1 if stale else 0))
    if name in context.fetches and name in context.fetched:
        return context.fetched[name]
    outputs = context.outputs
    if name in outputs:
        return np.float32(outputs[name])
    raise ValueError(
        f"a hook fetches {name!r}, which this {context.mode} run does not give; "
        f"it can fetch 'global_step' and {sorted({*outputs, *context.fetched})} "
        "(prediction keys and summaries in train and evaluate)."
    )


class _Adapter(Hook):
    """Runs a `SessionRunHook` as an `est.Hook`."""

    def __init__(self, hook: SessionRunHook) -> None:
        self.hook = hook
        self._session: HookSession | None = None
        self._run_context: SessionRunContext | None = None
        self._fetches: Any = None

    def begin(self, context: StepContext) -> None:
        self._session = HookSession(context)
        self.hook.begin()
        context.request_fetches(fetch_names(self.hook.tensor_names()))
        self.hook.after_create_session(self._session, None)

    def before_step(self, context: StepContext) -> None:
        assert self._session is not None, "begin() was not called"
        run_context = SessionRunContext(SessionRunArgs(None), self._session)
        args = self.hook.before_run(run_context)
        if args is not None and not isinstance(args, SessionRunArgs):
            raise TypeError(
                f"{type(self.hook).__name__}.before_run must return "
                f"est.SessionRunArgs or None, got {type(args).__name__}."
            )
        if args is not None and args.feed_dict:
            raise ValueError(f"{type(self.hook).__name__}: {_FEED_ERROR}")
        self._fetches = None if args is None else args.fetches
        context.request_fetches(fetch_names(self._fetches))
        self._run_context = run_context

    def after_step(self, context: StepContext) -> None:
        run_context = self._run_context
        assert run_context is not None, "before_step() was not called"
        run_context.global_step = context.global_step
        fetches = self._fetches
        values = SessionRunValues.lazy(
            lambda: _resolve(fetches, lambda n: _lookup(context, n, stale=True))
        )
        self.hook.after_run(run_context, values)
        if run_context.stop_requested:
            context.request_stop()

    def end(self, context: StepContext) -> None:
        assert self._session is not None, "begin() was not called"
        self.hook.end(self._session)

    def steps_until_needed(self, global_step: int) -> int | None:
        return self.hook.steps_until_needed(global_step)
