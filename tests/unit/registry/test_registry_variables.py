"""env.variable entries of the reference runtime honoured without its env system (issue #12)."""

from __future__ import annotations

from moonflow.registry import load_app

from .helpers import BASE_YAML, more

VARIABLES = BASE_YAML + more(
    """
    - name: os_env
      kind: env.storage.os
    - name: fixed
      kind: env.storage.static
      values: {SERVICE_TIER: gold}
    - name: region
      kind: env.variable
      variable: APP_REGION
      storage: os_env
      default: eu-west
    - name: tier
      kind: env.variable
      variable: SERVICE_TIER
      storage: fixed
    - name: port
      kind: env.variable
      storage: os_env
      default: 8125
    - name: code
      kind: function.lua
      source: file://code.lua
      method: main
      meta:
        note: "${env:APP_REGION}/${env:app:region}/${env:SERVICE_TIER}/${env:port}/${env:HOME_X|none}"
        port: ${env:app:port|0}
    """
)
MAIN = "local function main() return 1 end\nreturn { main = main }\n"


def _app(make_app, environ):
    return load_app(make_app({"app.yaml": VARIABLES, "code.lua": MAIN}), environ)


def test_a_declared_variable_falls_back_to_its_default(make_app) -> None:
    app = _app(make_app, {})
    assert app.get("app:code").meta["note"] == "eu-west/eu-west/gold/8125/none"
    assert app.get("app:code").meta["port"] == 8125  # typed like the placeholder's default


def test_the_os_value_wins_over_the_default(make_app) -> None:
    app = _app(make_app, {"APP_REGION": "us-east", "port": "9000"})
    assert app.get("app:code").meta["note"] == "us-east/us-east/gold/9000/none"
    assert app.environment["app:region"] == "us-east"
    assert app.environment.get("UNDECLARED") is None


def test_a_declared_variable_without_value_or_default_names_the_entry(make_app, load_err) -> None:
    yaml = VARIABLES.replace("    default: eu-west\n", "")
    assert yaml != VARIABLES
    err = load_err({"app.yaml": yaml, "code.lua": MAIN})
    assert "variable APP_REGION (env.variable app:region at app.yaml:" in str(err)
    assert "set APP_REGION in the environment, give the entry a default:" in str(err)


def test_entry_ids_with_dashes_and_undeclared_ids(make_app, load_err) -> None:
    yaml = (
        "namespace: my-ns\nentries:\n"
        "  - name: my-var\n    kind: env.variable\n    variable: MY_VAR\n    default: abc\n"
        "  - name: code\n    kind: function.lua\n    source: file://code.lua\n    method: main\n"
        "    meta: {a: '${env:my-ns:my-var|x}', b: '${env:my-ns:other|y}'}\n"
    )
    app = load_app(make_app({"app.yaml": yaml, "code.lua": MAIN}), {})
    assert app.get("my-ns:code").meta == {"a": "abc", "b": "y"}
    err = load_err({"app.yaml": yaml.replace("|y}", "}"), "code.lua": MAIN})
    assert "my-ns:other in meta.b is not an env.variable entry of the app" in str(err)
