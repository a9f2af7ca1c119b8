"""References (full and bare ids), definition-file discovery, dependency order and cycles."""

from __future__ import annotations

from .helpers import BASE_YAML, MAIN_LUA, assert_error, line_of, more


def test_bare_names_resolve_in_the_entry_namespace(load_ok) -> None:
    app = load_ok(
        {
            "app.yaml": BASE_YAML
            + more(
                """
                - name: lib
                  kind: library.lua
                  source: file://lib.lua
                - name: wf
                  kind: workflow.lua
                  source: file://wf.lua
                  method: main
                  imports: {helpers: lib}
                  meta: {temporal: {workflow: {worker: worker, name: OrderFlow}}}
                - name: act
                  kind: process.lua
                  source: file://act.lua
                  method: main
                  meta: {temporal: {activity: {worker: worker}}}
                """
            ),
            "lib.lua": "return { helper = function() end }\n",
            "wf.lua": 'local h = require("helpers")\n' + MAIN_LUA,
            "act.lua": MAIN_LUA,
        }
    )
    assert app.workers()[0].client == "app:client"
    wf = app.spec("app:wf")
    assert wf.workflow_worker == "app:worker"
    assert wf.imports == {"helpers": "app:lib"}
    assert app.workflow_type("app:wf") == "OrderFlow"
    assert app.workflow_by_type("OrderFlow") is wf
    assert app.workflow_by_type("app:wf") is None
    assert app.spec("app:act").activity_worker == "app:worker"
    assert [lib.entry.id for lib in app.libraries()] == ["app:lib"]
    assert app.activities("app:worker")[0].kind == "process.lua"


def test_cross_namespace_files_subdirs_and_single_entry_files(load_ok) -> None:
    app = load_ok(
        {
            "infra/_index.yaml": """
                version: "1.0"
                namespace: infra
                entries:
                  - name: temporal
                    kind: temporal.client
                    address: localhost:7233
                    tq_prefix: "dev-"
                """,
            "shop/worker.yml": """
                namespace: shop
                name: worker
                kind: temporal.worker
                client: infra:temporal
                task_queue: orders
                """,
            "shop/flows/_index.yaml": """
                namespace: shop.flows
                entries:
                  - name: checkout
                    kind: workflow.lua
                    source: file://checkout.lua
                    method: main
                    meta: {temporal: {workflow: {worker: shop:worker}}}
                """,
            "shop/flows/checkout.lua": MAIN_LUA,
            # Not definition files: ignored.
            "docker-compose.yaml": "services: {db: {image: postgres}}\n",
            "notes.yaml": "- 1\n- 2\n",
            "empty.yaml": "",
            # Hidden dirs and node_modules are never scanned.
            ".moonflow/broken.yaml": "namespace: [\n",
            "node_modules/x/broken.yaml": "namespace: [\n",
            "venv/pyvenv.cfg": "home = /usr/bin\n",
            "venv/lib/broken.yaml": "namespace: [\n",
        }
    )
    assert list(app.entries) == ["infra:temporal", "shop:worker", "shop.flows:checkout"]
    worker = app.get("shop:worker")
    assert worker.where() == "shop/worker.yml:2"
    assert worker.data == {"client": "infra:temporal", "task_queue": "orders"}
    assert app.task_queue("shop:worker") == "dev-orders"
    wf = app.spec("shop.flows:checkout")
    assert wf.source.parts[-3:] == ("shop", "flows", "checkout.lua")
    assert wf.chunkname == "shop/flows/checkout.lua"


def test_start_order_follows_dependencies_then_file_order(load_ok) -> None:
    app = load_ok(
        {
            "a.yaml": """
                namespace: app
                entries:
                  - name: wf
                    kind: workflow.lua
                    source: file://wf.lua
                    method: main
                    meta: {temporal: {workflow: {worker: worker}}}
                  - name: standalone
                    kind: library.lua
                    source: file://wf.lua
                  - name: worker
                    kind: temporal.worker
                    client: client
                    task_queue: q
                    lifecycle:
                      auto_start: true
                      requires: [late]
                  - name: late
                    kind: temporal.client
                    address: localhost:7233
                    lifecycle: {depends_on: [app:client]}
                  - name: client
                    kind: temporal.client
                    address: localhost:7233
                """,
            "wf.lua": MAIN_LUA,
        }
    )
    assert list(app.entries) == ["app:standalone", "app:client", "app:late", "app:worker", "app:wf"]
    assert app.dependencies("app:worker") == ("app:client", "app:late")
    assert [c.entry.id for c in app.clients()] == ["app:client", "app:late"]


def test_dependency_cycle(load_err) -> None:
    yaml = BASE_YAML.replace(
        "    task_queue: q\n", "    task_queue: q\n    lifecycle: {depends_on: [other]}\n"
    ) + more(
        """
        - name: other
          kind: temporal.client
          address: localhost:7233
          lifecycle:
            depends_on:
              - worker
        """
    )
    err = load_err({"app.yaml": yaml})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "lifecycle: {depends_on: [other]}"),
        "app:worker",
        "dependency cycle app:worker -> app:other -> app:worker",
        "remove one",
    )


def test_self_dependency_is_a_cycle(load_err) -> None:
    yaml = BASE_YAML.replace(
        "address: localhost:7233\n", "address: x\n    lifecycle: {requires: [client]}\n"
    )
    err = load_err({"app.yaml": yaml})
    assert_error(err, "app.yaml", 6, "app:client", "dependency cycle app:client -> app:client")


def test_dangling_reference(load_err) -> None:
    yaml = BASE_YAML.replace("client: client", "client: temporal_clent")
    err = load_err({"app.yaml": yaml})
    assert_error(
        err,
        "app.yaml",
        8,
        "app:worker",
        "client refers to 'temporal_clent' (app:temporal_clent), which does not exist",
        "app:client",
    )


def test_dangling_reference_in_meta_and_list(load_err) -> None:
    yaml = BASE_YAML + more(
        """
        - name: wf
          kind: workflow.lua
          source: file://wf.lua
          method: main
          meta:
            temporal:
              workflow:
                worker: app:wroker
        """
    )
    err = load_err({"app.yaml": yaml, "wf.lua": MAIN_LUA})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "worker: app:wroker"),
        "app:wf",
        "meta.temporal.workflow.worker refers to 'app:wroker', which does not exist",
        "did you mean app:worker?",
    )
    yaml = BASE_YAML.replace(
        "task_queue: q",
        "task_queue: q\n    lifecycle:\n      depends_on:\n        - client\n        - nothing",
    )
    err = load_err({"app.yaml": yaml})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "- nothing"),
        "app:worker",
        "lifecycle.depends_on.1 refers to",
    )


def test_reference_to_wrong_kind(load_err) -> None:
    yaml = BASE_YAML + more(
        """
        - name: fn
          kind: function.lua
          source: file://wf.lua
          method: main
          meta: {temporal: {activity: {worker: client}}}
        """
    )
    err = load_err({"app.yaml": yaml, "wf.lua": MAIN_LUA})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "meta: {temporal"),
        "app:fn",
        "meta.temporal.activity.worker refers to 'client' (app:client), which is a temporal.client,"
        " not a temporal.worker",
        "app:worker",
    )


def test_import_must_be_a_library(load_err) -> None:
    yaml = BASE_YAML + more(
        """
        - name: fn
          kind: function.lua
          source: file://wf.lua
          method: main
          imports:
            util: worker
        """
    )
    err = load_err({"app.yaml": yaml, "wf.lua": MAIN_LUA})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "util: worker"),
        "app:fn",
        "imports.util refers to",
        "which is a temporal.worker, not a library.lua",
    )


def test_reference_of_wrong_type(load_err) -> None:
    yaml = BASE_YAML.replace("client: client", "client: 42")
    err = load_err({"app.yaml": yaml})
    assert_error(err, "app.yaml", 8, "app:worker", "client must be an entry id")


def test_duplicate_id_names_both_places(load_err) -> None:
    err = load_err(
        {
            "a.yaml": BASE_YAML,
            "b/more.yaml": """
                namespace: app
                entries:
                  - name: other
                    kind: temporal.client
                    address: x
                  - name: worker
                    kind: temporal.client
                    address: y
                """,
        }
    )
    assert_error(
        err, "b/more.yaml", 6, "app:worker", "duplicate entry id app:worker", "a.yaml:6", "rename"
    )


def test_same_name_in_other_namespace_is_fine(load_ok) -> None:
    app = load_ok(
        {
            "a.yaml": BASE_YAML,
            "b.yaml": BASE_YAML.replace("namespace: app", "namespace: other"),
        }
    )
    assert app.task_queue("other:worker") == "q"
    assert app.spec("other:worker").client == "other:client"
