"""Build moonflow's one native piece, the loopback shim (everything else is in pyproject.toml).

``src/moonflow/_loopback_shim.c`` is an LD_PRELOAD library, not a Python extension: moonflow
loads it into the bundled time-skipping test server so that server listens on 127.0.0.1 only
(see ``src/moonflow/_loopback.py``). It uses no Python symbol and Python never imports it.
It is built on Linux only and is optional: without a C compiler moonflow still installs, and
``--server time-skipping`` then refuses to start, saying why.
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup

ext_modules = []
if sys.platform.startswith("linux"):
    ext_modules.append(
        Extension(
            "moonflow._loopback_shim",
            sources=["src/moonflow/_loopback_shim.c"],
            libraries=["dl"],  # dlsym lives in libdl before glibc 2.34
            optional=True,
        )
    )

setup(ext_modules=ext_modules)
