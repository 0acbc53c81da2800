"""``LADDER_HANDLER=django``: Django's own ASGI handler; otherwise sse's, as the project's."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.ladder.settings")

if os.environ.get("LADDER_HANDLER") == "django":
    from django.core.asgi import get_asgi_application
else:
    from sse.asgi import get_asgi_application

application = get_asgi_application()
