"""Architecture checks beyond import-linter's contracts (pyproject.toml).

- No import cycle between any two modules of the project's packages.
- No module imports another module's private name (`from x import _y` where `_y`
  is not a module): shared helpers get a public name in a module meant for them.
"""

from __future__ import annotations

import ast
import pathlib

import grimp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("estimators",)
FOLDERS = {
    "estimators": "estimators",
    "estimators_pipeline.flows": "flows",
    "estimators_pipeline.tasks": "tasks",
}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES)


def test_no_import_cycles(graph):
    cycles = []
    for importer in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported == importer or imported.startswith(importer + "."):
                continue  # a package's __init__ importing its own modules
            if importer.startswith(imported + "."):
                continue  # a module importing its own package
            chain = graph.find_shortest_chain(importer=imported, imported=importer)
            if chain and not any(
                a.startswith(b + ".") or b.startswith(a + ".")
                for a, b in zip(chain, chain[1:], strict=False)
            ):
                cycles.append(" -> ".join((importer, *chain)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def _private_imports(path: pathlib.Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
            continue
        module = node.module
        for package, folder in FOLDERS.items():
            if module == package or module.startswith(package + "."):
                module = folder + module[len(package) :]
        module_path = ROOT.joinpath(*module.split("."))
        for alias in node.names:
            name = alias.name
            if not name.startswith("_") or name.startswith("__"):
                continue
            is_module = (module_path / f"{name}.py").exists() or (
                module_path / name / "__init__.py"
            ).exists()
            if not is_module:
                found.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{name}"
                )
    return found


def test_no_module_imports_a_private_name():
    found = [
        hit
        for folder in FOLDERS.values()
        for path in sorted((ROOT / folder).rglob("*.py"))
        for hit in _private_imports(path)
    ]
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def _imports(folder: str) -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append((str(path.relative_to(ROOT)), node.lineno, node.module))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    rel = str(path.relative_to(ROOT))
                    found.append((rel, node.lineno, alias.name))
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("estimators", ("estimators_pipeline", "prefect", "mlflow")),
        ("tasks", ("estimators_pipeline.flows",)),
    ],
)
def test_pipeline_layers_run_one_way(folder, forbidden):
    """flows -> tasks -> estimators: nothing imports a layer above its own."""
    allowed = {"estimators/export/pyfunc_model.py"}  # runs inside MLflow
    bad = [
        f"{path}:{line} imports {module}"
        for path, line, module in _imports(folder)
        if path not in allowed
        and any(module == f or module.startswith(f + ".") for f in forbidden)
    ]
    assert not bad, "\n".join(bad)
