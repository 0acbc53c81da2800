from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import channels, presence, revocation  # noqa: F401  (channel rule)
        from sse.signals import stream_closed, stream_opened

        # Membership and privacy changes re-check the streams they concern at once.
        revocation.connect()

        stream_opened.connect(presence.on_stream_opened, dispatch_uid="chat.presence.opened")
        stream_closed.connect(presence.on_stream_closed, dispatch_uid="chat.presence.closed")
