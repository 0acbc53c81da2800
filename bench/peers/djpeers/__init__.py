"""Two Django peers on Daphne: django-eventstream, and one channel-layer channel per stream."""
