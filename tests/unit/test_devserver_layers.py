"""The client package never imports the devserver package (issue 17 item 8b): the dependency
goes one way, devserver -> client, so neither needs the other half-imported."""

from __future__ import annotations

import ast
from pathlib import Path

import moonflow.client
import moonflow.devserver

CLIENT_DIR = Path(moonflow.client.__file__).parent


def _imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at top level or inside functions."""
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against moonflow.client
                base = "moonflow.client" if node.level == 1 else "moonflow"
                out.append(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                out.append(node.module)
    return out


def test_client_package_does_not_import_devserver() -> None:
    files = sorted(CLIENT_DIR.glob("*.py"))
    assert len(files) > 5
    offenders = [
        f"{path.name}: {module}"
        for path in files
        for module in _imported_modules(path)
        if module == "moonflow.devserver" or module.startswith("moonflow.devserver.")
    ]
    assert offenders == []


def test_devserver_is_a_package_split_by_job() -> None:
    package = Path(moonflow.devserver.__file__).parent
    modules = sorted(p.name for p in package.glob("*.py"))
    assert modules == ["__init__.py", "_launch.py", "_open.py", "_search_attributes.py"]
    for path in package.glob("*.py"):
        assert len(path.read_text().splitlines()) < 800, path.name
    # the public names other modules and tests use stay importable from the package
    for name in ("open_server", "Server", "DevServer", "TestServer", "ServerError"):
        assert hasattr(moonflow.devserver, name)
    assert moonflow.devserver.time_skipping_unlocked.__module__ == "moonflow.client._time_skipping"
