"""Serving streams under any ASGI server: the ASGI handler (`asgi`) with its grouped middleware
(`middleware_groups`), shutdown (`shutdown`), Daphne's command (`daphne`), its access log
(`access_log`), token redaction (`redaction`), static files (`staticfiles`).
"""
