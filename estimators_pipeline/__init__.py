"""The training pipeline: Prefect flows (`flows/`) and tasks (`tasks/`).

Installed as `estimators_pipeline.flows` and `estimators_pipeline.tasks`, so they
cannot collide with another project's top-level `flows` or `tasks` packages. In a
checkout they stay where the project keeps them, beside this folder (setuptools'
`package-dir` maps them here when the project is installed).
"""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_CHECKOUT = os.path.dirname(_HERE)
if not os.path.isdir(os.path.join(_HERE, "tasks")) and os.path.isfile(
    os.path.join(_CHECKOUT, "tasks", "__init__.py")
):
    __path__.append(_CHECKOUT)  # a checkout: flows/ and tasks/ sit beside us
