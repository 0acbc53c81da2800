"""The settings block of docs/cross-origin.md pasted into a project that already has
django-cors-headers: it must add nothing twice (listed twice, the app stops Django at
start-up: "Application labels aren't unique, duplicates: corsheaders").

Real processes: ``manage.py check`` and a settings dump on tests/sse_app, from a settings
module written to a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.servers import PYTHON, ROOT, project_env

PAGE = "http://localhost:8123"  # what tests/cross_origin/settings.py reads when imported

# A project of one's own with django-cors-headers set up before sse came along.
ALREADY_HAS_CORSHEADERS = """\
from tests.sse_app.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "corsheaders"]  # noqa: F405
MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware", *MIDDLEWARE]  # noqa: F405
"""

WITHOUT_CORSHEADERS = """\
from tests.sse_app.settings import *  # noqa: F403
"""

# The block, read from the doc as tests/cross_origin/settings.py reads it, run after ``start``.
PASTE = """
from tests.cross_origin.settings import DOC, recipe  # noqa: E402

exec(recipe(DOC.read_text(), "http://localhost:8123"))
"""

DUMP = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps({'apps': settings.INSTALLED_APPS, 'middleware': settings.MIDDLEWARE}))"
)


def run(tmp_path: Path, start: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pasted_settings.py").write_text(start + PASTE)
    env = project_env(
        "", settings="pasted_settings", SSE_APP_DB=str(tmp_path / "db.sqlite3"), CROSS_ORIGIN_PAGE=PAGE
    )
    env["PYTHONPATH"] = f"{tmp_path}:{ROOT}"
    return subprocess.run(
        [PYTHON, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("start", [ALREADY_HAS_CORSHEADERS, WITHOUT_CORSHEADERS], ids=["already", "new"])
def test_the_block_adds_corsheaders_once(tmp_path: Path, start: str) -> None:
    done = run(tmp_path, start, "-m", "django", "check")
    assert done.returncode == 0, done.stderr
    assert "Application labels aren't unique" not in done.stderr
    dumped = run(tmp_path, start, "-c", DUMP)
    assert dumped.returncode == 0, dumped.stderr
    found = json.loads(dumped.stdout)
    assert found["apps"].count("corsheaders") == 1
    assert found["middleware"].count("corsheaders.middleware.CorsMiddleware") == 1
    assert found["middleware"][0] == "corsheaders.middleware.CorsMiddleware"
