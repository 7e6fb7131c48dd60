"""Chaos tests: exactly once under SIGKILL, rebalances and broker restarts."""
