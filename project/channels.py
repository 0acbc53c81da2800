"""The project's own channel rules moved into the apps that own the channels:
``broadcast``, ``notifications.user.{pk}`` and ``dashboard`` live in
``notifications/channels.py``. Kept so ``ProjectConfig.ready()`` still imports."""
