"""Alembic's environment: migrations run on the connection ContactQL hands over
(store/db/migrate.py), inside its write transaction, against the SQLModel metadata."""

from alembic import context

from contactql.store.db.tables import compared, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
    include_name=compared,  # the search index is made by hand (migration 0007)
)
with context.begin_transaction():
    context.run_migrations()
