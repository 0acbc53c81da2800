"""Sign in to a Django site through its real login form (standard library only)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

__all__ = ["login"]


def login(base_url: str, username: str, password: str = "demo") -> dict[str, str]:
    """The cookies of a signed-in session (``sessionid``, ``csrftoken``)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base_url}/accounts/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("the login form has no CSRF token")
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token.group(1), "username": username, "password": password}
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/accounts/login/", data=form, headers={"Referer": f"{base_url}/accounts/login/"}
    )
    opener.open(request, timeout=30).read()
    cookies = {c.name: c.value for c in jar}
    if "sessionid" not in cookies:
        raise RuntimeError(f"login of {username} failed")
    return cookies
