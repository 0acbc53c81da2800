"""The jobs modules import one way: no cycle, none hidden in a function."""

from __future__ import annotations

import subprocess
import sys

from tests.servers import ROOT


def test_jobs_modules_have_no_import_cycle() -> None:
    graph = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import-graph"), str(ROOT / "jobs")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert graph.returncode == 0, graph.stdout + graph.stderr
    assert graph.stdout.rstrip().endswith("no cycles")
    # The only imports inside functions left are AppConfig.ready()'s, which Django requires.
    inside = [line for line in graph.stdout.splitlines() if "[function" in line]
    assert all(line.startswith("jobs.apps -> ") for line in inside), inside
