"""ARCHITECTURE.md names every module of sse, so the map cannot fall behind the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SSE = ROOT / "sse"
# Named as a whole: what they hold is listed in their row, not one row each.
AS_A_WHOLE = ("conf", "checks", "migrations", "management", "templatetags", "testing", "static")


def _module_table() -> str:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    table = text[text.index("## The modules of `sse`") :]
    return table[: table.index("\n## ")]


def _named() -> set[str]:
    # The first column of each row: `apps.py`, `hub/groups.py`, `migrations/` ...
    named = set()
    for row in _module_table().splitlines():
        if row.startswith("| `"):
            named.update(re.findall(r"`([^`]+)`", row.split("|")[1]))
    return named


def _modules() -> set[str]:
    """Every module of sse as ARCHITECTURE.md names it: a path under sse/, or a folder/."""
    have = set()
    for path in SSE.rglob("*.py"):
        parts = path.relative_to(SSE).parts
        if parts[0] in AS_A_WHOLE:
            have.add(parts[0] + "/")
        elif len(parts) == 1 or parts[-1] != "__init__.py":
            have.add("/".join(parts))
    return have | {name + "/" for name in AS_A_WHOLE if (SSE / name).is_dir()}


def test_every_sse_module_is_in_the_architecture_table() -> None:
    missing = sorted(_modules() - _named())
    assert not missing, f"ARCHITECTURE.md's module table does not name: {missing}"


def test_the_architecture_table_names_nothing_that_is_gone() -> None:
    stale = sorted(name for name in _named() if not (SSE / name).exists())
    assert not stale, f"ARCHITECTURE.md's module table names what is gone: {stale}"


def test_every_sub_package_says_what_it_holds() -> None:
    bare = sorted(
        str(init.parent.relative_to(SSE))
        for init in SSE.glob("*/__init__.py")
        if init.parent.name not in ("migrations", "management", "templatetags")
        and not re.match(r'\s*"""', init.read_text())
    )
    assert not bare, f"sub-packages without a docstring: {bare}"
