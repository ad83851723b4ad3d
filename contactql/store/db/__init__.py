"""The database: the handle every store function runs in, its tables, dialect differences,
set-based writes, WAL checkpoints and migrations."""
