"""The project with Django REST framework's own JSON parser, which lets a lone surrogate through.

The project's parser refuses such bodies before any view runs; under these settings the
jobs API must refuse them by itself.
"""

from project.settings import REST_FRAMEWORK
from tests.site_settings import *  # noqa: F403

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
