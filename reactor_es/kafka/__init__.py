"""Kafka plumbing: the local broker launcher, broker selection and Kafka-specific errors."""
