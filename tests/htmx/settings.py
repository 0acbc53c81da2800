"""The demo project, plus the recipe of docs/htmx.md (templates and module from HTMX_RECIPE_DIR)."""

from __future__ import annotations

import copy
import os

from project.settings import TEMPLATES as _TEMPLATES
from tests.site_settings import *  # noqa: F403

ROOT_URLCONF = "tests.htmx.urls"
TEMPLATES = copy.deepcopy(_TEMPLATES)
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], os.environ["HTMX_RECIPE_DIR"]]
