"""Root of the project's exception tree.

Every expected failure is a `ReactorError`, so the CLI can print it as one line and callers
can catch the whole family. Each package declares its own subclasses in its `exceptions.py`.
"""

from __future__ import annotations

__all__ = ["ReactorError"]


class ReactorError(Exception):
    """An expected failure whose message is fit to show a user as it is."""
