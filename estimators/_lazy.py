"""Modules imported on first use, for what `import estimators` need not load.

`pyarrow.compute` takes ~45 ms to import (it generates a wrapper per compute
function); a model trained on in-memory numeric data never calls it. Modules
that use it name `pyarrow_compute as pc` and call `pc.<function>` as before.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["LazyModule", "pyarrow_compute"]


class LazyModule:
    """Stands for a module; imports it on the first attribute read.

    Example:
        >>> json = LazyModule("json")
        >>> json.dumps([1])
        '[1]'
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # protocol probes (copy, inspect) load nothing
            raise AttributeError(attribute)
        value = getattr(importlib.import_module(self._name), attribute)
        setattr(self, attribute, value)  # later reads: a plain attribute lookup
        return value

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"


pyarrow_compute = LazyModule("pyarrow.compute")
