"""``function.py`` entries (issue 16 item 6): the code is imported when the app loads, and every
problem is one line naming where it is and how to fix it."""

from __future__ import annotations

import sys
import uuid

import pytest

from moonflow import errors
from moonflow.kinds import PythonCode, python_activities
from moonflow.worker._python_activity import error_of, result_error

from .helpers import BASE_YAML, assert_error, line_of, more


def py_app(body: str, meta: str = "  meta: {temporal: {activity: {worker: worker}}}\n") -> str:
    """BASE_YAML plus ``app:pay`` (a function.py entry) at line 10."""
    return BASE_YAML + more(f"- name: pay\n  kind: function.py\n{body}{meta}")


PAY = "def charge(order):\n    return order\n\n\nasync def refund(order):\n    return None\n"


def test_a_file_source_is_imported_and_its_function_found(load_ok) -> None:
    app = load_ok(
        {
            "app.yaml": py_app("  source: file://py/pay.py\n  method: charge\n"),
            "py/pay.py": PAY,
        }
    )
    code = app.spec("app:pay")
    assert isinstance(code, PythonCode)
    assert code.source == app.root / "py" / "pay.py"
    assert code.where == "py/pay.py"
    assert code.function({"n": 1}) == {"n": 1}
    assert code.is_async is False
    assert (code.activity_worker, code.activity_local) == ("app:worker", False)
    assert python_activities(app) == [code]
    assert python_activities(app, "app:other") == []


def test_an_async_function_and_a_local_activity(load_ok) -> None:
    app = load_ok(
        {
            "app.yaml": py_app(
                "  source: file://pay.py\n  method: refund\n",
                "  meta: {temporal: {activity: {worker: worker, local: true}}}\n",
            ),
            "pay.py": PAY,
        }
    )
    code = app.spec("app:pay")
    assert code.is_async is True
    assert code.activity_local is True


def test_without_meta_it_is_no_activity(load_ok) -> None:
    app = load_ok(
        {"app.yaml": py_app("  source: file://pay.py\n  method: charge\n", ""), "pay.py": PAY}
    )
    assert app.spec("app:pay").activity_worker is None
    assert python_activities(app) == []


def test_a_module_is_found_in_the_app_folder(load_ok) -> None:
    pkg = f"shop_{uuid.uuid4().hex[:8]}"  # a fresh name: Python caches modules per process
    app = load_ok(
        {
            "app.yaml": py_app(f"  module: {pkg}.payments\n  method: charge\n"),
            f"{pkg}/__init__.py": "",
            f"{pkg}/payments.py": PAY,
        }
    )
    code = app.spec("app:pay")
    assert code.module == f"{pkg}.payments" and code.source is None
    assert code.function.__module__ == f"{pkg}.payments"
    assert str(app.root) in sys.path
    assert sys.path.index(str(app.root)) > 0  # appended: it never shadows installed packages


def test_the_file_runs_once_per_version(load_ok, tmp_path) -> None:
    counter = tmp_path / "imports.txt"
    body = f"with open({str(counter)!r}, 'a') as f:\n    f.write('x')\n\n" + PAY
    files = {"app.yaml": py_app("  source: file://pay.py\n  method: charge\n"), "pay.py": body}
    first = load_ok(files).spec("app:pay")
    second = load_ok(files).spec("app:pay")
    assert counter.read_text() == "x"
    assert first.function is second.function
    # changed on disk: imported anew
    third = load_ok({"pay.py": body + "\n\ndef extra():\n    return 1\n"}).spec("app:pay")
    assert counter.read_text() == "xx"
    assert third.function is not first.function


# --- one-line errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "fragments"),
    [
        ("  method: charge\n", None, ("needs its code", "source: file://code.py", "module:")),
        (
            "  source: file://pay.py\n  module: pay\n  method: charge\n",
            "module:",
            ("source and module are both set",),
        ),
        (
            "  source: http://x/pay.py\n  method: charge\n",
            "source:",
            ("unsupported scheme 'http'", "file://path.py"),
        ),
        (
            "  source: file://nothere.py\n  method: charge\n",
            "source:",
            ("source file not found", "nothere.py", "relative to the directory of the YAML"),
        ),
        (
            "  source: file://pay.py\n  method: missing\n",
            "method:",
            ('method "missing" is not defined in pay.py (it defines: charge, items, refund)',),
        ),
        (
            "  source: file://pay.py\n  method: RATE\n",
            "method:",
            ('method "RATE" of pay.py is a int, not a function',),
        ),
        (
            "  source: file://pay.py\n  method: items\n",
            "method:",
            ("is a generator", "return a list instead"),
        ),
        (
            "  module: 'shop-payments'\n  method: charge\n",
            "module:",
            ("not a dotted Python module name",),
        ),
        (
            "  module: nothere_pkg_xyz.payments\n  method: charge\n",
            "module:",
            ("module nothere_pkg_xyz.payments not found", "create nothere_pkg_xyz/payments.py"),
        ),
    ],
)
def test_bad_entries(load_err, body, field, fragments) -> None:
    pay = PAY + "\nRATE = 3\n\n\ndef items():\n    yield 1\n"
    yaml = py_app(body)
    err = load_err({"app.yaml": yaml, "pay.py": pay})
    line = line_of(yaml, field) if field else line_of(yaml, "- name: pay")
    assert_error(err, "app.yaml", line, "app:pay", *fragments)


def test_meta_temporal_workflow_and_a_bad_local_are_refused(load_err) -> None:
    yaml = py_app(
        "  source: file://pay.py\n  method: charge\n",
        "  meta:\n    temporal:\n      activity: {worker: worker, local: 'yes'}\n",
    )
    err = load_err({"app.yaml": yaml, "pay.py": PAY})
    assert_error(err, "app.yaml", line_of(yaml, "activity:"), "app:pay", "must be true or false")
    yaml = py_app(
        "  source: file://pay.py\n  method: charge\n",
        "  meta:\n    temporal:\n      workflow: {worker: worker}\n",
    )
    err = load_err({"app.yaml": yaml, "pay.py": PAY})
    assert_error(err, "app.yaml", line_of(yaml, "workflow:"), "app:pay", "only for workflow.lua")


def test_a_syntax_error_points_at_the_python_line(load_err) -> None:
    yaml = py_app("  source: file://pay.py\n  method: charge\n")
    err = load_err({"app.yaml": yaml, "pay.py": "def charge(x):\n    return (x\n"})
    assert err.file == "pay.py" and err.entry_id == "app:pay", str(err)
    assert "Python syntax error" in str(err) and "(entry at app.yaml:10)" in str(err)
    assert "\n" not in str(err)


def test_a_failing_import_points_at_the_line_that_raised(load_err) -> None:
    yaml = py_app("  source: file://pay.py\n  method: charge\n")
    err = load_err({"app.yaml": yaml, "pay.py": PAY + "\nimport nothere_dep_xyz\n"})
    assert_error(
        err,
        "pay.py",
        len(PAY.splitlines()) + 2,
        "app:pay",
        "importing pay.py failed: ModuleNotFoundError: No module named 'nothere_dep_xyz'",
        "install nothere_dep_xyz in moonflow's Python environment",
        "(entry at app.yaml:10)",
    )
    # nothing half-imported is left behind: a fixed file loads
    assert not [m for m in sys.modules if m.startswith("moonflow_py_pay_") and "nothere" in m]


# --- the error model of a call -------------------------------------------------------------------


def test_error_of_keeps_a_moonflow_error_and_makes_others_internal(load_ok) -> None:
    app = load_ok(
        {"app.yaml": py_app("  source: file://pay.py\n  method: charge\n"), "pay.py": PAY}
    )
    code = app.spec("app:pay")
    info, stack = error_of(
        errors.Error("declined", kind=errors.INVALID, retryable=False, details={"a": [1]}), code
    )
    assert (info.kind, info.message, info.retryable, info.details) == (
        "Invalid",
        "declined",
        False,
        {"a": [1]},
    )
    assert stack is None
    info, _ = error_of(errors.Error("odd details", kind=errors.CONFLICT, details={1: 2}), code)
    assert info.kind == "Conflict" and info.details is None
    assert "details dropped: details: keys must be strings" in info.message
    try:
        raise KeyError("k")
    except KeyError as exc:
        info, stack = error_of(exc, code)
    assert (info.kind, info.retryable) == ("Internal", False)
    assert info.message == "KeyError: 'k'"  # raised outside the app folder: no file:line
    assert stack is not None and "KeyError" in stack


def test_result_error_names_the_path(load_ok) -> None:
    app = load_ok(
        {"app.yaml": py_app("  source: file://pay.py\n  method: charge\n"), "pay.py": PAY}
    )
    code = app.spec("app:pay")
    assert result_error({"a": [1, 2.5, None, True, "x"], "b": {}}, code) is None
    info = result_error({"a": [1, 2**64]}, code)
    assert info is not None and info.kind == "Invalid" and info.retryable is False
    assert "result.a[1]: integer 18446744073709551616 does not fit in 64 bits" in info.message
    assert info.message.startswith("app:pay (pay.py, charge) returned a value")
