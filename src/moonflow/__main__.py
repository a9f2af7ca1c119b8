"""``python -m moonflow``: the same as the ``moonflow`` command."""

from __future__ import annotations

from moonflow.cli import main

if __name__ == "__main__":
    main()
