"""Failures of the chaos proof."""

from __future__ import annotations

__all__ = ["ChaosFailure"]


class ChaosFailure(AssertionError):
    """The system under chaos did not do what it must (or did not get there in time)."""
