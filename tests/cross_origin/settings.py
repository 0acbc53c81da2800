"""tests/sse_app with the cross-origin settings of docs/cross-origin.md applied.

The block is read from the doc itself (the ```python block after its
``tests/cross_origin/settings.py runs the next block`` marker), so the doc
cannot drift from what the tests run. Its example page origin becomes the
test page's, from ``CROSS_ORIGIN_PAGE`` (set by the tests).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from tests.sse_app.settings import *  # noqa: F403

DOC = Path(__file__).resolve().parents[2] / "docs" / "cross-origin.md"
EXAMPLE_ORIGIN = "https://app.example.com"
_MARKER = "tests/cross_origin/settings.py runs the next block"


def recipe(text: str, page_origin: str) -> str:
    """The doc's settings block, with ``page_origin`` for the example origin."""
    found = re.search(re.escape(_MARKER) + r".*?-->\n```python\n(.*?)^```$", text, re.S | re.M)
    if found is None:
        raise ImproperlyConfigured(f"{DOC} has no ```python block after the marker {_MARKER!r}")
    block = found.group(1)
    if EXAMPLE_ORIGIN not in block:
        raise ImproperlyConfigured(f"the settings block of {DOC} never names {EXAMPLE_ORIGIN}")
    return block.replace(EXAMPLE_ORIGIN, page_origin)


exec(compile(recipe(DOC.read_text(), os.environ["CROSS_ORIGIN_PAGE"]), str(DOC), "exec"))
