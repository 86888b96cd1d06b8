"""Fixtures the watch tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opsbook.serving import BackgroundServer
from tests.watch.fakes import FakeStatusPages


@pytest.fixture
def status_pages() -> Iterator[tuple[FakeStatusPages, str]]:
    """A fake status page server on 127.0.0.1: set `fake.pages[slug]`, read `{url}/{slug}`."""
    fake = FakeStatusPages()
    server = BackgroundServer(fake.app).start()
    yield fake, server.url
    server.stop()
