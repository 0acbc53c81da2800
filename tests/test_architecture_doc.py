"""ARCHITECTURE.md names every module of sse, so the map cannot fall behind the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_table() -> str:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    table = text[text.index("## The modules of `sse`") :]
    return table[: table.index("\n## ")]


def test_every_sse_module_is_in_the_architecture_table() -> None:
    # The first column of each row: `conf.py`, `models.py`, `migrations/`, `storage/` ...
    named = set()
    for row in _module_table().splitlines():
        if row.startswith("| `"):
            named.update(re.findall(r"`([^`]+)`", row.split("|")[1]))
    sse = ROOT / "sse"
    have = {p.name for p in sse.glob("*.py") if p.name != "__init__.py"}
    have |= {p.name + "/" for p in sse.iterdir() if p.is_dir() and p.name != "__pycache__"}
    missing = sorted(have - {n.split("/")[0] + "/" if "/" in n else n for n in named})
    assert not missing, f"ARCHITECTURE.md's module table does not name: {missing}"
    stale = sorted(n for n in named if not (sse / n).exists())
    assert not stale, f"ARCHITECTURE.md's module table names what is gone: {stale}"
