"""reactor-es: Powerhouse document reactor as a Kafka pipeline."""

__version__ = "0.1.0"
