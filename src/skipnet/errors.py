"""Errors every module may raise, kept apart so that no module imports another just to raise one; and the two ways
a message quotes what it did not write itself (a file name, a value)."""

MAX_MESSAGE = 2000  # characters: an error is one line a person reads


def printable(text):
    """`text` with control characters escaped, so that a newline or an escape sequence in a file name cannot forge a
    line of a table or change a terminal's state."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def quote(value, limit=100):
    """repr(value), at most about `limit` characters: an error quoting a value stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class SkipnetError(Exception):
    """A problem the user can fix; printed as one line, without a traceback: whatever it quotes, its text has no
    control character and at most MAX_MESSAGE characters."""

    def __str__(self):
        text = printable(super().__str__())
        return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."
