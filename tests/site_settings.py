"""The demo project's settings as the suite serves them.

``project.settings`` unchanged but for the password hasher: the suite signs users in over
HTTP many times, and PBKDF2 at its production cost takes most of a second per sign-in
on a busy machine. What is tested is the sign-in, not the cost of the hash.
"""

from __future__ import annotations

from project.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
