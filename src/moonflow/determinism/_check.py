"""``moonflow check APP --determinism``: the static pass over an app's workflow code."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..dialect import DialectError, erase
from ._lexer import LexError
from ._rules import (
    NOTE,
    QUERY_PREFIX,
    WARNING,
    classify_assign,
    classify_query_write,
    classify_ref,
    classify_require,
)
from ._scan import ParseError, scan

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ..registry import App


@dataclass(frozen=True, order=True)
class Finding:
    """One finding.

    Attributes:
        file: the Lua file (relative to the app root when inside it).
        line: 1-based line.
        entry: the entry whose code it is; for a library, ``"ns:lib (imported by ns:wf)"``.
        severity: ``note`` (replaced at run time by a deterministic version) or ``warning``
            (refused at run time, or mutable global state).
        message: what and why, one line.
    """

    file: str
    line: int
    entry: str
    severity: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.entry}: {self.severity}: {self.message}"


@dataclass
class Report:
    """Findings of a pass over an app, in file and line order."""

    findings: list[Finding] = field(default_factory=list)
    workflows: int = 0
    files: int = 0

    @property
    def warnings(self) -> int:
        """Number of warnings."""
        return sum(1 for f in self.findings if f.severity == WARNING)

    @property
    def notes(self) -> int:
        """Number of notes."""
        return sum(1 for f in self.findings if f.severity == NOTE)

    def summary(self) -> str:
        """The closing line, e.g. ``determinism: 2 warnings, 1 note in 3 files (2 workflows)``."""
        w, n = self.warnings, self.notes
        what = f"{w} warning{'s' * (w != 1)}, {n} note{'s' * (n != 1)}" if w or n else "no findings"
        files = f"{self.files} file{'s' * (self.files != 1)}"
        flows = f"{self.workflows} workflow entr{'ies' if self.workflows != 1 else 'y'}"
        return f"determinism: {what} in {files} ({flows})"

    def lines(self) -> list[str]:
        """One line per finding, then the summary."""
        return [str(f) for f in self.findings] + [self.summary()]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: findings, counts."""
        return {
            "findings": [asdict(f) for f in self.findings],
            "warnings": self.warnings,
            "notes": self.notes,
            "files": self.files,
            "workflows": self.workflows,
        }


def check_source(
    source: str,
    *,
    file: str = "code.lua",
    entry: str = "entry",
    modules: Collection[str] = (),
    imports: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Findings for one Lua file that runs in a workflow.

    Args:
        source: the Lua source.
        file: the name findings carry.
        entry: the entry label findings carry (also named in require messages).
        modules: the entry's ``modules:`` list.
        imports: the entry's ``imports:`` (alias -> library entry id).

    Returns:
        Findings in line order. A file the scanner cannot read gives one warning saying so.
    """
    imports = imports or {}
    entry_id = entry.split(" ", 1)[0]
    try:
        result = scan(source)
    except (LexError, ParseError) as exc:
        return [Finding(file, exc.line, entry, WARNING, f"cannot analyse: {exc.message}")]
    found: set[Finding] = set()
    for ref in result.refs:
        verdict = classify_ref(ref.path)
        if verdict is not None:
            found.add(Finding(file, ref.line, entry, *verdict))
    for req in result.requires:
        verdict = classify_require(req.name, modules, imports, entry_id)
        if verdict is not None:
            found.add(Finding(file, req.line, entry, *verdict))
    for assign in result.assigns:
        found.add(Finding(file, assign.line, entry, *classify_assign(assign.name, assign.function)))
    for w in result.query_writes:
        verdict = classify_query_write(w.name, w.query, w.field, w.upvalue)
        found.add(Finding(file, w.line, entry, *verdict))
    return sorted(found, key=lambda f: (f.line, f.severity != WARNING, f.message))


def _file_name(code: LuaCode) -> str:
    try:
        return code.chunkname
    except Exception:  # noqa: BLE001 - any oddity: fall back to the absolute path
        return str(code.source)


def workflow_codes(app: App) -> list[LuaCode]:
    """Every ``workflow.lua`` entry of the app (registered on a worker or not), in id order."""
    from ..kinds import LuaCode

    codes = []
    for entry_id in sorted(app.entries):
        spec = app.spec(entry_id)
        if isinstance(spec, LuaCode) and spec.kind == "workflow.lua":
            codes.append(spec)
    return codes


def check_app(app: App) -> Report:
    """Run the pass over every workflow entry of ``app`` and the libraries it imports
    (transitively). Each file is reported once; a library is labelled with the first
    workflow that imports it."""
    report = Report()
    seen: set[Path] = set()
    workflows = workflow_codes(app)
    report.workflows = len(workflows)
    for code in workflows:
        todo: list[tuple[LuaCode, str]] = [(code, code.entry.id)]
        while todo:
            current, label = todo.pop(0)
            if current.source in seen:
                continue
            seen.add(current.source)
            source = current.source.read_text(encoding="utf-8", errors="replace")
            with contextlib.suppress(DialectError):  # the app loader reports it
                source = erase(source, _file_name(current))
            report.findings.extend(
                check_source(
                    source,
                    file=_file_name(current),
                    entry=label,
                    modules=current.modules,
                    imports=current.imports,
                )
            )
            for lib_id in current.imports.values():
                lib = app.spec(lib_id)
                todo.append((lib, f"{lib_id} (imported by {code.entry.id})"))
    report.files = len(seen)
    report.findings.sort(key=lambda f: (f.file, f.line))
    return report


def query_handler_warnings(app: App) -> list[str]:
    """The query-handler findings of :func:`check_app` (a handler writing the workflow's
    variables or globals) as plain ``moonflow check`` warning lines:
    ``warning: FILE:LINE: ENTRY: MESSAGE``."""
    return [
        f"warning: {f.file}:{f.line}: {f.entry}: {f.message}"
        for f in check_app(app).findings
        if f.message.startswith(QUERY_PREFIX)
    ]
