"""``moonflow replay``: replay recorded histories against an app's current code.

``moonflow replay APP HISTORY...`` reads history files; ``moonflow replay APP --from-server``
fetches the histories of recent runs from the app's server. One line per history (``ok  ID`` or
``FAIL ID: mismatch``) on stdout, then a summary on stderr. Exit 0 when every history replays,
1 when one does not, 2 for bad input (an unreadable file, a file that holds no history, a bad
query or an unreachable server). The work is :mod:`moonflow.replay`'s.
"""

from __future__ import annotations

import argparse
from typing import Any

from moonflow.cli._output import EXIT_FAILED, EXIT_OK, Streams
from moonflow.errors import UsageError

DEFAULT_LIMIT = 20


def add_parser(sub: Any, add_common: Any, add_app: Any, add_server: Any, connect_help: str) -> None:
    """Add the ``replay`` subcommand to ``sub`` (the parser's subparsers)."""
    p = sub.add_parser(
        "replay",
        help="replay recorded workflow histories against the app's current code",
        description="Replay workflow histories against the app's current code (no server "
        "needed for files) and report per history `ok  ID` or `FAIL ID: <first mismatch>`: "
        "the command the code issued (with its Lua file:line) and what the history recorded. "
        "HISTORY files are JSON as `temporal workflow show --output json` writes it or JSON "
        "lines as `moonflow history` prints them. Exit 0 all replay, 1 one does not, 2 bad "
        "input.",
    )
    add_common(p)
    add_app(p)
    p.add_argument("histories", nargs="*", metavar="HISTORY", help="history JSON files")
    p.add_argument(
        "--from-server",
        action="store_true",
        help="replay the histories of recent runs (closed and running, newest first) of the "
        "app's workflow types, fetched from the server",
    )
    p.add_argument(
        "--query",
        metavar="VISIBILITY_QUERY",
        help="with --from-server: which runs, e.g. \"ExecutionStatus = 'Running'\" (default: "
        "every run of the app's workflow types)",
    )
    p.add_argument(
        "--limit",
        metavar="N",
        type=int,
        default=None,
        help=f"with --from-server: at most N runs (default {DEFAULT_LIMIT})",
    )
    add_server(p, connect_help + "; with --from-server")


async def cmd_replay(args: argparse.Namespace, streams: Streams, stop: Any) -> int:
    """``moonflow replay APP HISTORY...`` / ``moonflow replay APP --from-server``."""
    from moonflow.replay import read_history, replay_history

    if args.from_server and args.histories:
        raise UsageError("replay: give HISTORY files or --from-server, not both")
    if not args.from_server:
        if not args.histories:
            raise UsageError("replay: give HISTORY files to replay, or --from-server")
        if args.query is not None or args.limit is not None:
            raise UsageError("replay: --query and --limit go with --from-server")
    limit = DEFAULT_LIMIT if args.limit is None else args.limit
    if limit < 1:
        raise UsageError(f"replay: --limit must be a positive number, got {limit}")

    from moonflow.cli._commands import _connected, _load

    app = _load(args.app_dir)
    if args.from_server:
        from moonflow.replay import fetch_histories

        async with _connected(args, streams) as client:
            histories = await fetch_histories(client, app, query=args.query, limit=limit)
        if not histories:
            streams.note("moonflow: no runs to replay")
            return EXIT_OK
    else:
        histories = [read_history(path) for path in args.histories]  # all, before replaying
    failed = 0
    for history in histories:
        result = await replay_history(app, history)
        streams.print(result.line())
        failed += not result.ok
    total = len(histories)
    streams.note(
        f"moonflow: {total - failed} of {total} histories replayed"
        + (f", {failed} failed" if failed else "")
    )
    return EXIT_FAILED if failed else EXIT_OK
