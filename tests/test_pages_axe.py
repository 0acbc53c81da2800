"""Every page, at 375 and 1280 px: it fits its width, and axe-core finds no serious or
critical violation. One walk over the pages does both checks.

The official axe-core package from npm (pinned in package.json / package-lock.json at the
repository root; `make test` runs `npm ci`) is injected into each page by Playwright and run
on the whole document once the page is live. The pages, users and content are those of
tests/test_pages_layout.py, whose ``layout_problems`` finds what reaches past the right edge.
The failure lists every problem found, page by page: for axe, rule id, impact, the elements
it names and axe's own summary, so each page's owner sees theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import test_pages_layout as layout
from tests.servers import DaphneServer
from tests.test_pages_layout import USERS, WIDTHS, layout_problems, pages_for, user_id, visit

# The same site, content and browser pages as the layout test (fixtures shared by name).
pages_site = layout.pages_site
demo_jobs = layout.demo_jobs
open_pages = layout.open_pages

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def axe_violations(page: Any) -> list[dict[str, Any]]:
    if page.evaluate("typeof window.axe") == "undefined":
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])


def describe(violation: dict[str, Any]) -> list[str]:
    lines = []
    for node in violation["nodes"]:
        target = " ".join(str(part) for part in node["target"])
        summary = (node.get("failureSummary") or "").replace("\n", " ")
        lines.append(f"{violation['id']} ({violation['impact']}) at {target}: {summary[:220]}")
    return lines


@pytest.fixture(scope="module", autouse=True)
def axe_installed() -> None:
    assert AXE.exists(), f"{AXE} is missing: run `npm ci` at the repository root (make test does)"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("user", USERS, ids=user_id)
def test_every_page_fits_its_width_and_has_no_serious_axe_violation(
    open_pages: Callable[[str | None, str], Any],
    pages_site: DaphneServer,
    demo_jobs: dict[str, str],
    user: str | None,
    width: str,
) -> None:
    page = open_pages(user, width)
    failures = []
    for spec in pages_for(user):
        path, problems = visit(page, pages_site, demo_jobs, user, spec)
        problems += layout_problems(page)
        failures += [f"{path}: {problem}" for problem in problems]
        for violation in axe_violations(page):
            if violation["impact"] in BLOCKING:
                failures += [f"{path}: {line}" for line in describe(violation)]
    assert not failures, f"{user_id(user)} at {WIDTHS[width]['width']} px:\n" + "\n".join(failures)


def test_axe_reports_what_it_should(
    open_pages: Callable[[str | None, str], Any],
    pages_site: DaphneServer,
) -> None:
    """The run can fail: an image without alt text and grey-on-grey text are reported."""
    page = open_pages(None, "phone")
    page.goto(pages_site.url + "/")
    page.evaluate(
        "() => { const main = document.querySelector('main');"
        ' main.insertAdjacentHTML(\'beforeend\', \'<img src="/static/none.png" id="no-alt">'
        '<p id="faint" style="color:#bbb;background:#ccc">faint text</p>\'); }'
    )
    found = {
        (violation["id"], " ".join(node["target"]))
        for violation in axe_violations(page)
        if violation["impact"] in BLOCKING
        for node in violation["nodes"]
    }
    assert ("image-alt", "#no-alt") in found, found
    assert ("color-contrast", "#faint") in found, found
