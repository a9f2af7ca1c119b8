"""Find and parse YAML files, keeping line numbers.

PyYAML's composer gives a node tree with marks; we construct plain Python data from it and keep
the tree to answer "on which line is this field?".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from moonflow.errors import AppError

from ._entry import rel

#: Directory names never scanned (besides every hidden directory, e.g. ``.moonflow``, ``.venv``).
SKIP_DIRS = frozenset({"node_modules", "__pycache__"})
YAML_SUFFIXES = (".yaml", ".yml")


def discover(root: Path) -> list[Path]:
    """Every ``*.yaml`` / ``*.yml`` file under ``root``, recursively, in sorted order.

    Hidden directories (``.moonflow``, ``.venv``, ``.git``...), ``node_modules``, ``__pycache__``
    and Python virtual environments (directories holding ``pyvenv.cfg``) are skipped.
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in SKIP_DIRS
            and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
        )
        for name in sorted(filenames):
            if name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                found.append(Path(dirpath) / name)
    return found


def parse(path: Path, root: Path) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML file.

    Returns:
        ``(data, node)``: plain Python data (dicts, lists, scalars) and its node tree; ``(None,
        None)`` for an empty file.

    Raises:
        AppError: unreadable file or invalid YAML (located at the YAML error's problem mark).
    """
    relpath = rel(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AppError(
            f"cannot read YAML file: {exc}; save it as UTF-8 text", file=relpath
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "syntax error"
        if exc.context and exc.problem:
            started = exc.context_mark
            at = f" started at line {started.line + 1}" if started and started is not mark else ""
            what = f"{exc.problem} ({exc.context}{at})"
        raise AppError(
            f"invalid YAML: {_one_line(what)}: fix the YAML syntax",
            file=relpath,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except yaml.YAMLError as exc:
        raise AppError(f"invalid YAML: {_one_line(str(exc))}", file=relpath) from None
    finally:
        loader.dispose()
    return data, node


def line_of(node: yaml.Node) -> int:
    """1-based line where ``node`` starts."""
    return node.start_mark.line + 1


def mapping_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node, or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def key_line(node: yaml.Node | None, key: str) -> int | None:
    """1-based line of ``key`` in a mapping node, or None."""
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return line_of(k)
    return None


def field_lines(node: yaml.Node, prefix: str = "") -> dict[str, int]:
    """Dotted path -> 1-based line for every key and list item below ``node``.

    A mapping key maps to the line of the key; a list item ``name.0`` to the line of the item.
    """
    out: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode) or k.value == "<<":
                continue
            path = f"{prefix}{k.value}"
            out[path] = line_of(k)
            out.update(field_lines(v, path + "."))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}{i}"
            out[path] = line_of(item)
            out.update(field_lines(item, path + "."))
    return out


def duplicate_key(node: yaml.Node, deep: bool = True) -> tuple[str, int, int] | None:
    """The first key written twice in one mapping: ``(key, line, first_line)``, or None.

    Args:
        node: the node to check.
        deep: also check every mapping nested below ``node``.
    """
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                if k.value in seen:
                    return k.value, line_of(k), seen[k.value]
                seen[k.value] = line_of(k)
            found = duplicate_key(v) if deep else None
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode) and deep:
        for item in node.value:
            found = duplicate_key(item)
            if found:
                return found
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
