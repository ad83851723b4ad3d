"""`/healthz` and `/readyz`: what a load balancer and an orchestrator ask of a server.

`/healthz` is liveness: the process answers HTTP (it touches nothing else, so a slow database
never gets a live server restarted). `/readyz` is readiness: the database answers, its schema
is the revision this code needs (a server started beside an older database, or after a
rollback of the code, is not ready), and every background loop of this process — batch
worker, webhook sender, export worker, bulk job worker, housekeeping, SQLite's checkpointer — still runs.
Anything else is 503 with a JSON body naming what failed. Neither needs a key, so neither says
more than a name and a state: the cause of a database failure goes to the log, not the body.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from contactql.store.db import migrate
from contactql.store.db.database import Database

log = logging.getLogger("contactql.health")

DATABASE_TIMEOUT_SECONDS = 2.0  # a probe that waits longer than this counts the database as down
OK = "ok"


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


class Readiness:
    def __init__(self, db: Database, *, workers: bool) -> None:
        self.db = db
        self.workers = workers
        self.loops: list[asyncio.Task[None]] = []  # the lifespan's background tasks, once started

    async def readyz(self, _: Request) -> Response:
        checks = await self._database()
        if not self.workers:
            checks["workers"] = "off (CONTACTQL_WORKERS=false)"
        for task in self.loops:
            checks[task.get_name()] = OK if not task.done() else "stopped"
        for name, alive in self.db.threads_alive().items():
            checks[name] = OK if alive else "stopped"
        ready = all(state == OK or state.startswith("off") for state in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)

    async def _database(self) -> dict[str, str]:
        try:
            revision = await asyncio.wait_for(self.db.read(migrate.current), DATABASE_TIMEOUT_SECONDS)
        except Exception:
            log.warning("readiness: the database did not answer", exc_info=True)
            return {"database": "unavailable", "migrations": "unknown"}
        wanted = migrate.head()
        return {"database": OK, "migrations": OK if revision == wanted else f"at {revision}, this server needs {wanted}"}
