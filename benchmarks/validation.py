"""Batch item validation with and without the fast path for common email addresses (issue 23).

    python benchmarks/validation.py [--contacts 20000] [--rounds 3]

Validates batch_upsert.py's contacts (an email, names, 5 properties, a list each) with
`validate_entries`, as a batch is before it is stored, alternately with the fast path
(values.plain_email) and without it (every address through email-validator: the floor), and
prints contacts/s and the ratio per round. CPU only: no database.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.batch_upsert import contacts  # noqa: E402
from benchmarks.loadgen import table  # noqa: E402
from contactql.store import values  # noqa: E402
from contactql.store.batches.queue import validate_entries  # noqa: E402


def rate(items: list[dict[str, object]]) -> float:
    started = time.perf_counter()
    validate_entries(items)
    return len(items) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    items = [c for n in range(max(1, args.contacts // 1000)) for c in contacts(n, 1000)]
    rows = []
    for n in range(1, args.rounds + 1):
        fast = rate(items)
        with mock.patch.object(values, "plain_email", lambda raw: None):
            slow = rate(items)
        rows.append([str(n), f"{fast:,.0f}", f"{slow:,.0f}", f"{fast / slow:.2f}"])
    print(f"\nvalidate_entries over {len(items):,} batch items (CPU only)")
    print(table(rows, ["round", "with the fast path, items/s", "email-validator for every address (floor), items/s", "ratio"]))


if __name__ == "__main__":
    main()
