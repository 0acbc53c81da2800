"""The JSON endpoints (Django REST framework, the `[api]` extra): stream tokens, publish, stats."""
