"""The Kafka workers: partitions held in one engine, their inputs, checkpoints and rounds,
published in transactions (docs/STREAMS.md)."""
