"""What a person types at a manual step: whole words only, so a slip ("stop", "sure",
"yes please") is asked again rather than taken for done or not applicable."""

from __future__ import annotations

import pytest

from opsbook.runbooks.cli import choice


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("y", "y"),
        (" YES ", "y"),
        ("done", "y"),
        ("n", "n"),
        ("", "n"),
        ("no", "n"),
        ("s", "s"),
        ("skip", "s"),
        ("Not  applicable", "s"),
        ("n/a", "s"),
    ],
)
def test_whole_words_are_answers(said: str, answer: str) -> None:
    assert choice(said) == answer


@pytest.mark.parametrize(
    "said", ["stop", "sure", "yes please", "nope", "sy", "\x1b[2J", "y\x00", "[/x]", "s; rm -rf /"]
)
def test_anything_else_is_asked_again(said: str) -> None:
    assert choice(said) is None
