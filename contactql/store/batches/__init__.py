"""Batches: the durable queue of accepted items, CSV files as batch items, and the webhook
outbox."""
