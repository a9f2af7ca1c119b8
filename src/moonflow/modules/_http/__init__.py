"""The parts of the ``http_client`` Lua module (``modules/_http_client.py`` builds it):
``options`` checks a request's ``opts`` table, ``transfer`` sends it (clients, streamed
bodies), ``policy`` refuses private addresses for ``deny_private = true``."""
