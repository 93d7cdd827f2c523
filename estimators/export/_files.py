"""The files of an export directory: names, atomic writing and verified reading.

Layout of `export_dir_base/<timestamp>/`::

    export.json           format, version, metadata (global_step, head, label
                          vocabulary, versions) and the sha256 of every file below
    signature.json        receiver kind, input columns, transformed features fed
                          to the program, output keys with dtypes and shapes
    predict.jaxexport     the predict function, serialised by `jax.export`
    variables.safetensors the model variables and the predict RNG, keyed by path
    transform.json        the frozen feature columns (`fc.serialize`), if any
    MLmodel, requirements.txt, python_env.yaml, conda.yaml
                          an MLflow pyfunc over this directory, loaded by the
                          installed `estimators.export.pyfunc_model`

Nothing else: loading refuses a file the manifest does not list and checks every
listed file's sha256 before reading any of them. (Exports written before the
loader module also hold `python_model.py`, listed and hashed; it is never
imported.)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from typing import Any

from estimators import atomic
from estimators.atomic import sha256_file

__all__ = ["ExportError"]

FORMAT = "estimators.export"
FORMAT_VERSION = 1
MANIFEST = "export.json"
SIGNATURE = "signature.json"
PROGRAM = "predict.jaxexport"
VARIABLES = "variables.safetensors"
TRANSFORM = "transform.json"
MLMODEL = "MLmodel"
REQUIRED = (SIGNATURE, PROGRAM, VARIABLES)
TMP_PREFIX = ".tmp-export-"


class ExportError(Exception):
    """An export directory is missing, incomplete or corrupt."""


def write_file(directory: str, name: str, data: bytes | str) -> None:
    """Writes one file of a directory being assembled; `install` fsyncs it."""
    mode = "wb" if isinstance(data, bytes | bytearray) else "w"
    with open(os.path.join(directory, name), mode) as f:
        f.write(data)


def write_json(directory: str, name: str, obj: Any) -> None:
    write_file(directory, name, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def new_temp_dir(base: str) -> str:
    """A new directory in `base` to assemble an export in; readers skip it."""
    return atomic.new_temp_dir(base, prefix=TMP_PREFIX)


def install(tmp: str, base: str) -> str:
    """Fsyncs everything in the finished `tmp`, then renames it `base/<unix seconds>`.

    The first free second is taken, so two exports never share a directory,
    and never one before the newest export's: names sort in export order.
    """
    atomic.fsync_tree(tmp)
    stamps = [int(name) for name in os.listdir(base) if name.isdigit()]
    stamp = max([int(time.time()), *(s + 1 for s in stamps)])
    while True:
        final = os.path.join(base, str(stamp))
        try:
            os.rename(tmp, final)  # fails on an existing non-empty directory
        except OSError:
            if not os.path.exists(final):
                raise
            stamp += 1
            continue
        break
    atomic.fsync_dir(base)
    return final


def remove_temp(tmp: str) -> None:
    shutil.rmtree(tmp, ignore_errors=True)


def file_entries(directory: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """`{name: {"sha256", "bytes"}}` for the manifest."""
    return {
        name: {
            "sha256": sha256_file(os.path.join(directory, name)),
            "bytes": os.path.getsize(os.path.join(directory, name)),
        }
        for name in names
    }


def read_manifest(path: str) -> dict[str, Any]:
    """Reads and checks `export.json`; names what is missing or wrong."""
    if not os.path.isdir(path):
        raise ExportError(f"export directory {path!r} does not exist.")
    manifest_path = os.path.join(path, MANIFEST)
    if not os.path.exists(manifest_path):
        found = sorted(os.listdir(path))
        hint = ""
        if any(name.isdigit() for name in found):
            hint = " It holds timestamped exports: load one of them (the newest is "
            hint += f"{os.path.join(path, max(n for n in found if n.isdigit()))!r})."
        raise ExportError(
            f"{path!r} is not a complete estimators export: {MANIFEST} is missing "
            f"(found {found[:10]}).{hint}"
        )
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError(f"export {path!r}: {MANIFEST} is unreadable: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"export {path!r}: {MANIFEST} is not an {FORMAT} manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ExportError(
            f"export {path!r} has format version {manifest.get('format_version')}; "
            f"this library reads version {FORMAT_VERSION}."
        )
    if not isinstance(manifest.get("files"), dict):
        raise ExportError(
            f"export {path!r}: {MANIFEST} has no 'files' table to verify the export "
            "against; export again."
        )
    return manifest


def verify_files(path: str, files: Mapping[str, Any]) -> None:
    """Checks that the export holds exactly the listed files, each as recorded.

    Every file but the manifest must be listed with its size and sha256 (the
    required ones included); a file or folder the manifest does not list is
    refused, so nothing unverified sits next to what is loaded.
    """
    for name in files:
        if not _is_inside(name):
            raise ExportError(
                f"export {path!r}: {MANIFEST} lists {name!r}, which is not a file "
                "name inside the export."
            )
    missing = [
        name
        for name in (*REQUIRED, *files)
        if not os.path.isfile(os.path.join(path, name))
    ]
    if missing:
        raise ExportError(
            f"export {path!r} is incomplete: missing {sorted(set(missing))}."
        )
    _check_listing(path, files)
    for name, entry in files.items():
        full = os.path.join(path, name)
        if (
            not isinstance(entry, Mapping)
            or os.path.getsize(full) != entry.get("bytes")
            or sha256_file(full) != entry.get("sha256")
        ):
            raise ExportError(
                f"export {path!r} is corrupt: {name} does not match the sha256 "
                f"recorded in {MANIFEST}."
            )


def _check_listing(path: str, files: Mapping[str, Any]) -> None:
    """Refuses an unlisted required file, and anything present but not listed."""
    for name in REQUIRED:
        if name not in files:
            raise ExportError(
                f"export {path!r}: {MANIFEST} does not list {name}, so it cannot be "
                "verified; export again."
            )
    listed = {*files, MANIFEST}
    folders = {os.path.dirname(name) for name in files} - {""}
    for root, dirs, names in os.walk(path):
        for entry in sorted([*dirs, *names]):
            name = os.path.relpath(os.path.join(root, entry), path)
            name = name.replace(os.sep, "/")
            if name not in listed and not any(
                f == name or f.startswith(name + "/") for f in folders
            ):
                raise ExportError(
                    f"export {path!r} holds {name!r}, which {MANIFEST} does not "
                    "list: an export must hold only the files it lists (remove "
                    f"{name!r} or export again)."
                )


def _is_inside(name: Any) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and not os.path.isabs(name)
        and "\\" not in name
        and os.path.normpath(name) == name
        and ".." not in name.split("/")
    )


def latest_export(export_dir_base: str) -> str | None:
    """The newest complete export under `export_dir_base`, or None.

    Example:
        >>> import tempfile
        >>> latest_export(tempfile.mkdtemp()) is None
        True
    """
    try:
        names = os.listdir(export_dir_base)
    except FileNotFoundError:
        return None
    stamps = sorted(
        (
            int(n)
            for n in names
            if n.isdigit()
            and os.path.exists(os.path.join(export_dir_base, n, MANIFEST))
        ),
        reverse=True,
    )
    return os.path.join(export_dir_base, str(stamps[0])) if stamps else None
