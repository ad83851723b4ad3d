"""The `contactql` command's entry point (pyproject.toml): Ctrl-C at any moment is one line and
exit status 130 — also in the second or so before the command begins, while Python imports
ContactQL (cli.py and what it needs), where Python's own traceback came out before."""

from __future__ import annotations

import sys

EXIT_STOPPED = 130  # as a shell reports a command stopped by Ctrl-C (cli.EXIT_STOPPED: not imported, see above)


def main() -> int:
    try:
        from contactql.cli import main as run  # noqa: PLC0415 - the import is what Ctrl-C may interrupt

        return run()
    except KeyboardInterrupt:
        print("contactql: stopped (Ctrl-C).", file=sys.stderr)
        return EXIT_STOPPED


if __name__ == "__main__":
    raise SystemExit(main())
