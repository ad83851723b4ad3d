"""The `contactql` command's entry point (pyproject.toml): Ctrl-C at any moment is one line and
exit status 130 — also in the second or so before the command begins, while Python imports
ContactQL (cli.py and what it needs), where Python's own traceback came out before.

Those imports make ~110 000 objects. At CPython's default collector thresholds they set off
~250 collections, two of them full, ~0.1 s of a command's ~1 s start (`contactql import` of a
small file is mostly its start): the thresholds a server runs at (runtime.GC_THRESHOLDS) are
set before them instead. Reference counting frees what they discard meanwhile; ~300 objects
in cycles are left (measured), which the server's start collects (runtime.tune_gc).
"""

from __future__ import annotations

import gc
import sys

EXIT_STOPPED = 130  # as a shell reports a command stopped by Ctrl-C (cli.EXIT_STOPPED: not imported, see above)


def main() -> int:
    try:
        from contactql.runtime import GC_THRESHOLDS  # noqa: PLC0415 - as below

        gc.set_threshold(*GC_THRESHOLDS)
        from contactql.cli import main as run  # noqa: PLC0415 - the import is what Ctrl-C may interrupt

        return run()
    except KeyboardInterrupt:
        print("contactql: stopped (Ctrl-C).", file=sys.stderr)
        return EXIT_STOPPED


if __name__ == "__main__":
    raise SystemExit(main())
