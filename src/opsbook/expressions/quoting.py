"""Where a placeholder stands in POSIX shell text: quoted how, or in a place that must not
hold a value at all.

`shell.py` asks this at each placeholder, so that it can write the reference to the value
that is one word there. The tracker follows what changes the meaning of a placeholder:
single and double quotes, backslashes, comments, `$( )`, backticks and `( )` subshells
(with `case ... esac` patterns, whose `)` closes nothing), and here-documents. Places where
the shell would evaluate a value as code or never expand it (`$(( ))`, `(( ))`, `$[ ]`,
`[[ ]]`, `let`, a quoted here-document) are refused, so an author learns at once rather
than a value being mistaken for code or silently lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PLAIN, SINGLE, DOUBLE, COMMENT, HEREDOC, EVALUATED = (
    "plain",
    "single",
    "double",
    "comment",
    "heredoc",
    "evaluated",
)
_WORD_BREAK = set(" \t\n;&|()<>")
_DELIMITER = re.compile(r"<<(-?)[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\?([A-Za-z0-9_.-]+))")


@dataclass
class Place:
    kind: str
    closer: str = ""  # the text that ends it: ")" for $( ) and ( ), "`", "))", "]]", "]"
    cases: int = 0  # open `case` words: their patterns' ")" close nothing
    depth: int = 0  # open "(" inside $(( ))
    delimiter: str = ""  # a here-document's last line
    strip_tabs: bool = False
    quoted: bool = False


@dataclass
class Quoting:
    """Feed it shell text a piece at a time; `where()` says how a placeholder would stand."""

    frames: list[Place] = field(default_factory=lambda: [Place(PLAIN)])
    pending: list[Place] = field(default_factory=list)  # here-documents opened on this line
    word_start: bool = True

    def where(self) -> Place:
        return self.frames[-1]

    def placeholder(self) -> None:
        """A value stands here: it is part of a word."""
        self.word_start = False

    def advance(self, text: str, i: int) -> int:
        """Move over one unit of text starting at i; return its length."""
        frame = self.frames[-1]
        handler = {
            SINGLE: self._single,
            COMMENT: self._comment,
            HEREDOC: self._heredoc,
            EVALUATED: self._evaluated,
            DOUBLE: self._double,
        }.get(frame.kind, self._plain)
        step = handler(frame, text, i)
        self.word_start = text[i + step - 1] in _WORD_BREAK
        return step

    # --- each kind of place ---------------------------------------------------------

    def _single(self, _frame: Place, text: str, i: int) -> int:
        if text[i] == "'":
            self.frames.pop()
        return 1

    def _comment(self, _frame: Place, text: str, i: int) -> int:
        if text[i] == "\n":
            self.frames.pop()
            return self._newline(text, i)
        return 1

    def _evaluated(self, frame: Place, text: str, i: int) -> int:
        if frame.closer == "\n" and text[i] in "\n;&|":
            self.frames.pop()  # `let` ends with its command
            return 1
        if frame.closer == "))":
            if text[i] == "(":
                frame.depth += 1
            elif text.startswith("))", i) and frame.depth == 0:
                self.frames.pop()
                return 2
            elif text[i] == ")":
                frame.depth -= 1
            return 1
        if frame.closer and text.startswith(frame.closer, i):
            self.frames.pop()
            return len(frame.closer)
        return 1

    def _double(self, _frame: Place, text: str, i: int) -> int:
        if text[i] == "\\":
            return 2
        if text[i] == '"':
            self.frames.pop()
            return 1
        return self._expansion(text, i) or 1

    def _heredoc(self, frame: Place, text: str, i: int) -> int:
        line_start = i == 0 or text[i - 1] == "\n"
        if line_start:
            end = text.find("\n", i)
            line = text[i : len(text) if end < 0 else end]
            if (line.lstrip("\t") if frame.strip_tabs else line) == frame.delimiter:
                self.frames.pop()
                return len(line)
        if frame.quoted:
            return 1
        if text[i] == "\\":
            return 2
        return self._expansion(text, i) or 1

    def _plain(self, frame: Place, text: str, i: int) -> int:
        char = text[i]
        if char == "\\":
            return 2
        if char == "\n":
            return self._newline(text, i)
        if char == "#" and self.word_start:
            self.frames.append(Place(COMMENT))
            return 1
        if char == "'":
            self.frames.append(Place(SINGLE))
            return 1
        if char == '"':
            self.frames.append(Place(DOUBLE))
            return 1
        if frame.closer == "`" and char == "`":
            self.frames.pop()
            return 1
        if frame.closer == ")" and char == ")":
            if frame.cases == 0:
                self.frames.pop()
            return 1  # else a `case` pattern's ")"
        if self.word_start:
            evaluated = self._evaluated_start(text, i)
            if evaluated:
                return evaluated
            word = re.match(r"(case|esac)(?=[ \t\n;&|()]|$)", text[i:])
            if word:
                frame.cases += 1 if word.group(1) == "case" else -1
                frame.cases = max(frame.cases, 0)
                return len(word.group(1))
        if text.startswith("<<", i) and not text.startswith("<<<", i):
            return self._heredoc_start(text, i)
        if text.startswith("<<<", i):
            return 3
        if char == "(":
            self.frames.append(Place(PLAIN, closer=")"))
            return 1
        return self._expansion(text, i) or 1

    # --- shared pieces ----------------------------------------------------------------

    def _expansion(self, text: str, i: int) -> int:
        """`$(( ))`, `$[ ]`, `$( )` and backticks start a new place, in any kind of text."""
        if text.startswith("$((", i):
            self.frames.append(Place(EVALUATED, closer="))"))
            return 3
        if text.startswith("$[", i):
            self.frames.append(Place(EVALUATED, closer="]"))
            return 2
        if text.startswith("$(", i):
            self.frames.append(Place(PLAIN, closer=")"))
            return 2
        if text[i] == "`":
            self.frames.append(Place(PLAIN, closer="`"))
            return 1
        return 0

    def _evaluated_start(self, text: str, i: int) -> int:
        """`(( ))`, `[[ ]]` and `let` at the start of a command: bash evaluates what they
        hold as arithmetic, where `a[$(cmd)]` runs cmd."""
        if text.startswith("((", i):
            self.frames.append(Place(EVALUATED, closer="))"))
            return 2
        if text.startswith("[[", i):
            self.frames.append(Place(EVALUATED, closer="]]"))
            return 2
        if re.match(r"let[ \t]", text[i:]):
            self.frames.append(Place(EVALUATED, closer="\n"))
            return 3
        return 0

    def _heredoc_start(self, text: str, i: int) -> int:
        found = _DELIMITER.match(text, i)
        if not found:
            return 2
        strip, single, double, bare = found.groups()
        word = single if single is not None else double if double is not None else bare
        quoted = single is not None or double is not None or text[found.start(4) - 1] == "\\"
        self.pending.append(Place(HEREDOC, delimiter=word, strip_tabs=bool(strip), quoted=quoted))
        return found.end() - i

    def _newline(self, text: str, i: int) -> int:
        # Here-documents begin on the line after the one that opened them.
        if self.pending:
            self.frames.extend(reversed(self.pending))
            self.pending.clear()
        return 1
