"""Find or launch the Temporal server an app runs on.

Three jobs, one module each:

* :mod:`._launch`: the bundled servers (``temporal server start-dev``, the time-skipping test
  server) as child processes that die with moonflow and listen on loopback only;
* :mod:`._search_attributes`: registering an app's custom search attributes on a server;
* :mod:`._open`: :func:`open_server`, the CLI's ``--server SPEC`` (embedded, memory,
  time-skipping, HOST:PORT) for an app.

The time-skipping helpers (:func:`time_skipping_unlocked`, :func:`await_skipping_time`) live in
:mod:`moonflow.client._time_skipping` (waiting on a result is a client's job) and are re-exported
here. The dependency goes one way: this package uses :mod:`moonflow.client`, never the reverse.
"""

from moonflow.client._time_skipping import (
    LOCKED_WAIT_S,
    await_skipping_time,
    time_skipping_unlocked,
)
from moonflow.devserver._launch import (
    LOCAL_HOSTS,
    START_TIMEOUT,
    STOP_TIMEOUT,
    DevServer,
    ServerError,
    TestServer,
    find_binary,
    free_port,
    is_listening,
    is_local_host,
    split_address,
)
from moonflow.devserver._open import SPEC_KINDS, Server, open_server, parse_server_spec
from moonflow.devserver._search_attributes import (
    SEARCH_ATTRIBUTE_TYPES,
    register_search_attributes,
)

__all__ = [
    "LOCAL_HOSTS",
    "LOCKED_WAIT_S",
    "SEARCH_ATTRIBUTE_TYPES",
    "SPEC_KINDS",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "DevServer",
    "Server",
    "ServerError",
    "TestServer",
    "await_skipping_time",
    "find_binary",
    "free_port",
    "is_listening",
    "is_local_host",
    "open_server",
    "parse_server_spec",
    "register_search_attributes",
    "split_address",
    "time_skipping_unlocked",
]
