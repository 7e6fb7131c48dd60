"""The JobExecutor: turns jobs on `actions` into operations on `operations`, exactly once."""
