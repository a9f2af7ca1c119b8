"""``${env:...}`` placeholders in entry values (lua-api.md §1.9).

Forms, in any string value (mapping keys are left alone):

* ``${env:NAME}`` - the OS environment variable ``NAME``; unset is an error. ``NAME`` may
  also be an ``env.variable`` entry's public name or id (``${env:app:region}``): see
  :mod:`._variables` for how those are read.
* ``${env:NAME|default}`` - ``default`` when ``NAME`` is unset.
* ``${NAME|default}`` - shorthand, only for ``NAME`` made of ``[A-Z0-9_]``; a bare ``${VAR}`` is
  left untouched.
* ``$${`` - a literal ``${``.

When the whole value is exactly one placeholder whose default looks like a YAML bool, int or
float, the result is coerced like YAML would (``port: ${env:PORT|7233}`` is the int 7233 when
``PORT`` is unset or numeric). Otherwise placeholders are string-interpolated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

_TOKEN = re.compile(
    r"\$\$\{"
    r"|\$\{env:(?P<name>[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9_][\w.-]*:[A-Za-z0-9_][\w.-]*)"
    r"(?:\|(?P<default>[^}]*))?\}"
    r"|\$\{(?P<short>[A-Z0-9_]+)\|(?P<sdefault>[^}]*)\}"
    r"|(?P<bad>\$\{env:[^}]*\}?)"
)


class PlaceholderError(Exception):
    """A placeholder cannot be resolved.

    Attributes:
        path: dotted path of the field holding it (``"auth.api_key"``).
        message: one line saying what is wrong and how to fix it.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def resolve(value: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """``value`` with every placeholder in every nested string resolved.

    Args:
        value: plain YAML data (dicts, lists, scalars).
        environ: the environment to read (usually ``os.environ``).
        path: dotted path of ``value``, used in error reports.

    Returns:
        A new structure; non-string scalars are returned unchanged.

    Raises:
        PlaceholderError: a variable without default is unset, or a placeholder is malformed.
    """
    if isinstance(value, str):
        return _resolve_str(value, environ, path)
    if isinstance(value, dict):
        return {k: resolve(v, environ, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, environ, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
    return value


def _resolve_str(text: str, environ: Mapping[str, str], path: str) -> Any:
    if "${" not in text:
        return text
    field = path or "value"

    def substitute(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        if m.group("bad") is not None:
            raise PlaceholderError(
                path,
                f"malformed placeholder {m.group('bad')!r} in {field}: "
                "write ${env:NAME} or ${env:NAME|default} "
                "(NAME of letters, digits and _, or an entry id)",
            )
        name = m.group("name") or m.group("short")
        default = m.group("default") if m.group("name") else m.group("sdefault")
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        declared = getattr(environ, "declared", lambda _: None)(name)
        if declared is not None:
            raise PlaceholderError(
                path,
                f"variable {name} (env.variable {declared.entry_id} at {declared.where}) has no "
                f"value (used in {field}): set {declared.name} in the environment, give the "
                f"entry a default:, or the placeholder one: ${{env:{name}|value}}",
            )
        if ":" in name:
            raise PlaceholderError(
                path,
                f"{name} in {field} is not an env.variable entry of the app: name a declared "
                f"variable (its entry id or public name) or an OS variable, or give a default: "
                f"${{env:{name}|value}}",
            )
        raise PlaceholderError(
            path,
            f"environment variable {name} is not set (used in {field}): "
            f"set {name} or give a default: ${{env:{name}|value}}",
        )

    whole = _TOKEN.fullmatch(text)
    result = _TOKEN.sub(substitute, text)
    if whole is not None and whole.group(0) != "$${":
        default = whole.group("default") if whole.group("name") else whole.group("sdefault")
        want = _typed(default) if default is not None else None
        if want is not None:
            typed = _typed(result)
            if (
                typed is None
                or type(typed) is not type(want)
                and not (isinstance(want, float) and type(typed) is int)
            ):
                name = whole.group("name") or whole.group("short")
                what = {bool: "a boolean", int: "an integer", float: "a number"}[type(want)]
                raise PlaceholderError(
                    path,
                    f"{name} is {result!r} but the default {default} makes {field} "
                    f"{what}: set {name} to {what}",
                )
            return typed
    return result


def _typed(text: str) -> bool | int | float | None:
    """``text`` as YAML would type a plain scalar, when that is a bool, int or float."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return value if isinstance(value, bool | int | float) else None
