"""What a workspace holds besides the upsert engine: reading contacts, lists, properties,
companies, events and history, API keys."""
