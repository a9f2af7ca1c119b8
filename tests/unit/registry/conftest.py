"""Fixtures for registry tests: write a small app into tmp_path and load it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from moonflow.errors import AppError
from moonflow.registry import App, load_app

from .helpers import dedent


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Path]:
    """``make_app({"app.yaml": "...", "x.lua": "..."})`` writes files (dedented) and returns the
    app root."""

    def make(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dedent(text))
        return tmp_path

    return make


@pytest.fixture
def load_ok(make_app: Callable[..., Path]) -> Callable[..., App]:
    def load(files: dict[str, str]) -> App:
        return load_app(make_app(files))

    return load


@pytest.fixture
def load_err(make_app: Callable[..., Path]) -> Callable[..., AppError]:
    def load(files: dict[str, str]) -> AppError:
        with pytest.raises(AppError) as info:
            load_app(make_app(files))
        return info.value

    return load
