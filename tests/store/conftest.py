from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def config_file(tmp_path: Path, store_url: str) -> Path:
    """An opsbook.yaml naming the test's store, for the CLI."""
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"store:\n  url: {store_url}\n")
    return path
