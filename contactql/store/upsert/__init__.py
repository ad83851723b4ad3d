"""The upsert engine: validate, load a chunk, decide each item, flush — one pipeline for
single upserts, batch items and CSV rows (pipeline.py)."""
