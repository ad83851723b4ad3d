"""Variable coercion of a batch document: graphql-core's against the compiled coercers (issue 23).

    python benchmarks/coercion.py [--contacts 1000] [--rounds 7]

Coerces the `$input: UpsertContactsInput!` of batch_upsert.py's documents (`--contacts`
contacts, each an email, names, 5 properties and a list; parsed from JSON as a request's are)
with graphql-core's `get_variable_values` — the floor: what every request paid before — and
with `contactql.coercion.coerced_variable_values`, interleaved, the best of `--rounds` each;
checks that both give the same values. Prints ms a document, µs a contact and the ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphql import parse  # noqa: E402
from graphql.execution.values import get_variable_values  # noqa: E402

from benchmarks.batch_upsert import SUBMIT, contacts  # noqa: E402
from benchmarks.loadgen import table  # noqa: E402
from contactql.coercion import coerced_variable_values  # noqa: E402
from contactql.schema.root import build_schema  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    schema = build_schema()._schema
    definitions = parse(SUBMIT).definitions[0].variable_definitions  # type: ignore[attr-defined]
    raw = json.loads(json.dumps({"input": {"contacts": contacts(1, args.contacts), "match": {"rules": ["EMAIL"]}}}))
    ways: dict[str, Any] = {"graphql-core get_variable_values (floor)": get_variable_values, "compiled coercers": coerced_variable_values}
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(args.rounds):
        for name, coerce in ways.items():
            started = time.perf_counter()
            coerce(schema, definitions, raw)
            best[name] = min(best[name], time.perf_counter() - started)
    slow, fast = (coerce(schema, definitions, raw) for coerce in ways.values())
    assert fast.coerced == slow.coerced, "the compiled coercers gave other values"
    floor = best["graphql-core get_variable_values (floor)"]
    rows = [[name, f"{seconds * 1e3:.1f}", f"{seconds / args.contacts * 1e6:.1f}", f"{seconds / floor:.2f}"] for name, seconds in best.items()]
    print(f"\nCoercing `$input: UpsertContactsInput!` of {args.contacts} contacts (best of {args.rounds}, interleaved)")
    print(table(rows, ["way", "ms a document", "µs a contact", "ratio to floor"]))


if __name__ == "__main__":
    main()
