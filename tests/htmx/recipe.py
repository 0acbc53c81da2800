"""The recipe of docs/htmx.md, read from the doc itself: the blocks after its test markers.

A marker is an HTML comment ``<!-- tests/htmx/test_recipe.py runs the next block as NAME -->``
before a fenced block; the htmx 4 line is the block after the marker that says so.
"""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "htmx.md"
_BLOCK = re.compile(r"<!-- tests/htmx/test_recipe\.py runs (.*?) -->\n```[a-z]*\n(.*?)^```$", re.S | re.M)
HTMX2_LINE = "<script src=\"{% static 'vendor/htmx/2.0.11/htmx.min.js' %}\"></script>"


def blocks() -> dict[str, str]:
    """{what the marker says it runs: the block's text}."""
    found = {m.group(1): m.group(2) for m in _BLOCK.finditer(DOC.read_text())}
    if not found:
        raise AssertionError(f"{DOC} has no blocks marked for tests/htmx/test_recipe.py")
    return found


def write(directory: Path) -> None:
    """The recipe as files: templates news/_item.html, news/page.html, news/page4.html
    (the page with htmx 4's script line in place of htmx 2's), news/page-ext.html (htmx 2
    with htmx-ext-sse) and the module news.py."""
    found = blocks()
    page = found["the next block as news/page.html"]
    htmx4 = found["the page above with the next line in place of htmx 2's"].strip()
    assert HTMX2_LINE in page, "the recipe's page no longer loads htmx 2 as the test expects"
    (directory / "news").mkdir(parents=True, exist_ok=True)
    (directory / "news" / "_item.html").write_text(found["the next block as news/_item.html"])
    (directory / "news" / "page.html").write_text(page)
    (directory / "news" / "page4.html").write_text(page.replace(HTMX2_LINE, htmx4))
    (directory / "news" / "page-ext.html").write_text(found["the next block as news/page-ext.html"])
    (directory / "news.py").write_text(found["the next block as the app's news.py"])
