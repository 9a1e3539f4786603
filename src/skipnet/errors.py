"""Errors every module may raise, kept apart so that no module imports another just to raise one."""


class SkipnetError(Exception):
    """A problem the user can fix; printed as one line, without a traceback."""
