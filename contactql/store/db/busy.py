"""SQLite's "database is locked", recognised wherever it surfaces.

Its own module, importing nothing, so that the background loops' supervisor (which the store's
checkpointer imports) can tell a busy database from a fault without an import circle."""

from __future__ import annotations


def is_busy(error: BaseException) -> bool:
    """SQLite's "database is locked": another process held the write lock past the busy
    timeout (CONTACTQL_SQLITE_BUSY_TIMEOUT_MS). Nothing was written; trying again later may work."""
    driver_error = getattr(error, "orig", error)  # SQLAlchemy's wrapper, or sqlite3's own
    return getattr(driver_error, "sqlite_errorname", "") in {"SQLITE_BUSY", "SQLITE_LOCKED"}
