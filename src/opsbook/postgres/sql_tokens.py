"""PostgreSQL's lexical tokens, as many as it takes to tell a string literal from a
comment, a quoted name or a word: what masking query text must know, since a password
literal may follow its keyword after a comment, and `'password'` inside a literal is text.

One pass, linear in the text whatever it holds: each token is matched once, starting
where the last one ended, by a pattern whose repetitions are possessive or whose
alternatives begin with different characters (nothing is tried twice), and the ends of a
dollar quote or a nested comment are found by plain searches forward. A literal, quoted
name or comment left open runs to the end of the text: query text cut by
`left(query, n)` ends inside one. Rules are the server's (scan.l): comments nest,
`E''` strings take backslash escapes, standard strings only doubled quotes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

LITERAL = "literal"  # 'x', E'x', U&'x', N'x', B'x', X'x', $$x$$, $tag$x$tag$
QUOTED = "quoted"  # "a name", U&"a name"
WORD = "word"  # a keyword or a name as typed
SPACE = "space"
COMMENT = "comment"
OTHER = "other"  # a number, an operator run, one punctuation character

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<line>--[^\n]*)"
    r"|(?P<block>/\*)"
    r"|(?P<escaped>[eE]'(?:[^'\\]|\\(?:.|\Z)|'')*+(?:'|\Z))"
    r"|(?P<string>(?:[uU]&|[nNbBxX])?'(?:[^']|'')*+(?:'|\Z))"
    r"|(?P<quoted>(?:[uU]&)?\"(?:[^\"]|\"\")*+(?:\"|\Z))"
    r"|(?P<dollar>\$(?:[^\W\d]\w*+)?\$)"
    r"|(?P<word>[^\W\d][\w$]*+)"
    r"|(?P<number>\d[\w.]*+)"
    r"|(?P<operator>[+*<>=~!@#%^&|`?:]++)"
    r"|(?P<punctuation>[(),;\[\].])"
    # A run of anything else (backslashes, control characters, other symbols), or the
    # one character (`/`, `-`, `$`) that did not open a comment or a dollar quote.
    r"|(?P<other>[^\s\w'\"$/\-+*<>=~!@#%^&|`?:(),;\[\].]++|.)",
    re.DOTALL,
)
_KINDS = {
    "space": SPACE,
    "line": COMMENT,
    "escaped": LITERAL,
    "string": LITERAL,
    "quoted": QUOTED,
    "word": WORD,
    "number": OTHER,
    "operator": OTHER,
    "punctuation": OTHER,
    "other": OTHER,
}
_COMMENT_MARK = re.compile(r"/\*|\*/")


class Token(NamedTuple):
    kind: str
    start: int
    end: int


def tokens(text: str) -> Iterator[Token]:
    """The tokens of `text` in order, covering it whole."""
    pos, size = 0, len(text)
    while pos < size:
        found = _TOKEN.match(text, pos)
        assert found is not None and found.lastgroup is not None  # `other` takes any char
        group = found.lastgroup
        if group == "block":
            end, kind = _comment_end(text, found.end()), COMMENT
        elif group == "dollar":
            closing = text.find(found.group(), found.end())
            end, kind = (size if closing < 0 else closing + len(found.group())), LITERAL
        else:
            end, kind = found.end(), _KINDS[group]
        yield Token(kind, pos, end)
        pos = end


def _comment_end(text: str, pos: int) -> int:
    """Where the block comment opened before `pos` ends: comments nest (`/* /* */ */`)."""
    depth = 1
    for mark in _COMMENT_MARK.finditer(text, pos):
        depth += 1 if mark.group() == "/*" else -1
        if depth == 0:
            return mark.end()
    return len(text)
