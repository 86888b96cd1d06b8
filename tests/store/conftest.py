from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def config_file(tmp_path: Path, store_url: str) -> Path:
    """An opsbook.yaml naming the test's store, for the CLI."""
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"store:\n  url: {store_url}\n")
    return path


@pytest.fixture
def fresh_config_file(tmp_path: Path, fresh_store_url: str) -> Path:
    """An opsbook.yaml naming an empty store, for the CLI's migration commands."""
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"store:\n  url: {fresh_store_url}\n")
    return path
