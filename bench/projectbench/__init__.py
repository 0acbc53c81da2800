"""The project's own settings plus one bench-only endpoint (a burst of publishes)."""
