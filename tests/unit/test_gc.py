"""runtime.tune_gc: the start-up's objects frozen out of the collector's way, the thresholds a
server uses; a one-off command (`contactql import`) skips the full collection first, and the
`contactql` script (launch.py) imports at those thresholds: no full collection at its start.

Each case runs in a fresh interpreter: the collector's settings are the process's own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import gc, json, sys
from contactql.runtime import GC_THRESHOLDS, tune_gc
full = []
gc.callbacks.append(lambda phase, info: phase == "start" and info["generation"] == 2 and full.append(1))
tune_gc(**json.loads(sys.argv[1]))
print(json.dumps({"full": len(full), "frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(), "wanted": GC_THRESHOLDS}))
"""


@pytest.mark.parametrize(("options", "full"), [({}, 1), ({"collect": False}, 0)])
def test_tune_gc_freezes_the_start_and_sets_the_thresholds(options: dict[str, bool], full: int) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(options)], capture_output=True, text=True, check=True, timeout=60)
    seen = json.loads(out.stdout)
    assert seen["full"] == full  # the full collection ran (the default) or was skipped
    assert seen["frozen"] > 10_000  # the imported modules' objects, out of later collections
    assert tuple(seen["threshold"]) == tuple(seen["wanted"])


def test_the_import_command_runs_without_a_full_collection(tmp_path: Path) -> None:
    """`contactql import` of a one-line file through the script's entry point, run whole: no
    full collection from start to end (before: two during the imports, one before freezing)."""
    (tmp_path / "one.ndjson").write_text('{"email": "gc@example.com"}\n')
    probe = (
        "import gc, sys; full = []; "
        "gc.callbacks.append(lambda phase, info: phase == 'start' and info['generation'] == 2 and full.append(1)); "
        "from contactql import launch; sys.argv = ['contactql', 'import', sys.argv[1], '--database', sys.argv[2]]; "
        "status = launch.main(); "
        "print('full collections:', len(full), file=sys.stderr); sys.exit(status)"
    )
    url = f"sqlite:///{tmp_path / 'gc.db'}"
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "one.ndjson"), url], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "created    1" in out.stdout
    assert out.stderr.strip().endswith("full collections: 0"), out.stderr
