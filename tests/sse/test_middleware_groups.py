"""sse.server.middleware_groups: a request meets the site's middlewares as Django's own handler runs them.

Django's ``ASGIHandler`` and ``StreamingASGIHandler`` serve the same request (an async
view under a stream path, an async view elsewhere, a sync view) through a chain of test
middlewares, in process. Each
middleware writes, in ``process_request``, its name to the request's trail and, in
``process_response``, the trail it saw to a header of its own; some end the request
early or raise, by the query string. For every case the two handlers answer the same
status, headers and body, and sse's runs each group of ``MiddlewareMixin`` middlewares
in two thread hops (counted), not two per middleware.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.test import override_settings
from django.urls import path
from django.utils.deprecation import MiddlewareMixin

from sse.server.asgi import StreamingASGIHandler
from sse.server.middleware_groups import is_plain_mixin
from tests.sse.asgi_scope import http_scope

# ---- the test middlewares: each leaves its mark, some end early or raise by the query string


class _Marking(MiddlewareMixin):
    name = ""

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        request.trail = [*getattr(request, "trail", []), self.name]  # type: ignore[attr-defined]
        if request.GET.get("short") == self.name:
            return HttpResponse(f"ended by {self.name}", status=418)
        if request.GET.get("raise_request") == self.name:
            raise ValueError(f"{self.name} failed in process_request")
        if request.GET.get("deny") == self.name:
            raise PermissionDenied(f"{self.name} denies")
        return None

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if request.GET.get("raise_response") == self.name:
            raise ValueError(f"{self.name} failed in process_response")
        response[f"X-{self.name}"] = ",".join(getattr(request, "trail", [])) or "-"
        return response


class First(_Marking):
    name = "first"


class Second(_Marking):
    name = "second"


class Third(_Marking):
    name = "third"


class Fourth(_Marking):
    name = "fourth"


class RequestOnly(MiddlewareMixin):
    def process_request(self, request: HttpRequest) -> None:
        request.trail = [*getattr(request, "trail", []), "request-only"]  # type: ignore[attr-defined]


class ViewHook(MiddlewareMixin):
    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        if "view_short" in request.GET:
            return HttpResponse("ended in process_view", status=409)
        return None


class NativeAsync:
    """A middleware of the modern kind: called as Django calls it, never grouped."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request.trail = [*getattr(request, "trail", []), "native"]  # type: ignore[attr-defined]
        if request.GET.get("short") == "native":
            return HttpResponse("ended by native", status=418)
        response = await self.get_response(request)
        response["X-native"] = ",".join(request.trail)  # type: ignore[attr-defined]
        return response


HERE = __name__
CHAIN = [
    f"{HERE}.{name}"
    for name in ("First", "Second", "RequestOnly", "NativeAsync", "Third", "ViewHook", "Fourth")
]


async def view(request: HttpRequest) -> HttpResponse:
    if "raise_view" in request.GET:
        raise ValueError("the view failed")
    return HttpResponse("view: " + ",".join(getattr(request, "trail", [])))


def sync_view(request: HttpRequest) -> HttpResponse:
    if "raise_view" in request.GET:
        raise ValueError("the view failed")
    return HttpResponse("view: " + ",".join(getattr(request, "trail", [])))


urlpatterns = [path("events/stream/", view), path("page/", view), path("sync/", sync_view)]
PATHS = ["/events/stream/", "/page/", "/sync/"]


# ---- driving the handlers


@pytest.fixture
def handlers() -> Iterator[tuple[ASGIHandler, StreamingASGIHandler]]:
    with override_settings(ROOT_URLCONF=HERE, MIDDLEWARE=CHAIN, DEBUG=False):
        ours = StreamingASGIHandler()
        yield ASGIHandler(), ours
    for context in [ours._stream_context, *ours._request_contexts]:
        executor = SyncToAsync.context_to_thread_executor.pop(context, None)
        if executor is not None:
            executor.shutdown()


async def answer(
    handler: ASGIHandler, query: str, path_: str = "/events/stream/"
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = http_scope(path_, query=query.encode())
    await asyncio.wait_for(handler(scope, receive, send), 10)
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], sorted(start["headers"]), body


CASES = [
    "",
    "short=first",
    "short=second",
    "short=third",
    "short=fourth",
    "short=native",
    "raise_request=first",
    "raise_request=second",
    "raise_request=fourth",
    "deny=third",
    "raise_response=first",
    "raise_response=second",
    "raise_response=fourth",
    "raise_request=second&raise_response=first",
    "view_short=1",
    "raise_view=1",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path_", PATHS)
@pytest.mark.parametrize("query", CASES)
async def test_the_same_answer_as_djangos_handler(
    handlers: tuple[ASGIHandler, StreamingASGIHandler], query: str, path_: str
) -> None:
    django_handler, ours = handlers
    expected = await answer(django_handler, query, path_)
    assert await answer(ours, query, path_) == expected
    if query == "":  # the plain case went through every middleware
        assert expected[0] == 200
        assert expected[2] == b"view: first,second,request-only,native,third,fourth"


@pytest.mark.django_db
@pytest.mark.parametrize("path_", ["/events/stream/", "/page/"])
async def test_each_group_of_mixins_costs_two_thread_hops(
    handlers: tuple[ASGIHandler, StreamingASGIHandler], monkeypatch: pytest.MonkeyPatch, path_: str
) -> None:
    hops: list[str] = []
    call = SyncToAsync.__call__

    async def counted(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await call(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    django_handler, ours = handlers
    await answer(ours, "", path_)
    ours_hops = [hop for hop in hops if "process_" in hop]
    hops.clear()
    await answer(django_handler, "", path_)
    django_hops = [hop for hop in hops if "process_" in hop]
    # Django: a hop for each process_request and process_response of five mixins, and one
    # for ViewHook's process_view. Here: the two groups (First, Second, RequestOnly) and
    # (Third, ViewHook, Fourth) around the native one, two hops each, and process_view.
    assert len(django_hops) == 10, django_hops
    assert sorted(ours_hops) == sorted(
        ["_Group.process_requests"] * 2 + ["_Group.process_responses"] * 2 + ["ViewHook.process_view"]
    ), ours_hops


def test_which_middlewares_are_grouped() -> None:
    assert is_plain_mixin(First)
    assert not is_plain_mixin(NativeAsync)

    class OwnCall(MiddlewareMixin):
        def __call__(self, request: HttpRequest) -> HttpResponseBase:
            return super().__call__(request)  # type: ignore[no-any-return]

    class SyncOnly(MiddlewareMixin):
        async_capable = False

    assert not is_plain_mixin(OwnCall)
    assert not is_plain_mixin(SyncOnly)
    assert iscoroutinefunction(NativeAsync(view))
