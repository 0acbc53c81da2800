"""The site's middlewares under ASGI in two thread hops per group instead of two per middleware.

Django runs a ``MiddlewareMixin`` middleware under ASGI as two ``sync_to_async``
calls: one for ``process_request``, one for ``process_response``. A project with
Django's usual eight middlewares pays sixteen hand-offs between the event loop and a
thread on every request: before a stream's first byte, most of the cost of opening
one (measured: 2.4 ms per stream with the demo's eight, 0.8 ms with two).

:class:`GroupedMiddlewareHandler` (a base of ``sse.server.asgi.StreamingASGIHandler``) loads
the same ``MIDDLEWARE`` with the same rules, but runs each run of consecutive
``MiddlewareMixin`` middlewares (whose ``__call__`` is Django's own) as one group: every
``process_request`` in one hop, the inner handler (the view, or the next middleware that
is not such a mixin), then every ``process_response`` in one hop. What each hook sees
and what the client gets are Django's: hooks run in the same order, on the same
thread-sensitive thread (the request's own, or the one streams share), a
``process_request`` that returns a response skips the inner handler and the inner
hooks' ``process_response``, and an exception raised by a hook
becomes the response ``response_for_exception`` makes of it, handed to the outer
middlewares' ``process_response``, exactly as each middleware's own
``convert_exception_to_response`` wrapper would. Any other middleware (natively async,
sync-only, or a mixin with its own ``__call__``) is called as Django calls it.
``process_view``, ``process_exception`` and ``process_template_response`` stay
Django's (``BaseHandler._get_response_async``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response, response_for_exception
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

__all__ = ["GroupedMiddlewareHandler", "is_plain_mixin"]

logger = logging.getLogger("django.request")

# What Django's convert_exception_to_response returns (typed loosely by django-stubs).
Handler = Callable[[HttpRequest], Any]


def is_plain_mixin(middleware: type) -> bool:
    """Whether ``middleware`` runs under ASGI only as its ``process_request``/``process_response``."""
    return (
        isinstance(middleware, type)
        and issubclass(middleware, MiddlewareMixin)
        and middleware.__call__ is MiddlewareMixin.__call__
        and middleware.__acall__ is MiddlewareMixin.__acall__
        and bool(getattr(middleware, "async_capable", False))
    )


class _Group:
    """Consecutive plain mixins, outermost first, around ``inner``."""

    def __init__(self, middlewares: Sequence[MiddlewareMixin], inner: Handler) -> None:
        self.middlewares = list(middlewares)
        self.inner = inner
        markcoroutinefunction(self)
        # Bound once: sync_to_async objects are reusable.
        self._requests = sync_to_async(self.process_requests, thread_sensitive=True)
        self._responses = sync_to_async(self.process_responses, thread_sensitive=True)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response, ran = await self._requests(request)
        if response is None:
            response = await self.inner(request)  # never raises: wrapped by convert_exception_to_response
            ran = len(self.middlewares)
        return await self._responses(request, response, ran)

    def process_requests(self, request: HttpRequest) -> tuple[HttpResponseBase | None, int]:
        """Each ``process_request`` in turn: (a response that ends it early, how many middlewares ran)."""
        for index, middleware in enumerate(self.middlewares):
            if not hasattr(middleware, "process_request"):
                continue
            try:
                response = middleware.process_request(request)
            except Exception as exc:
                # Its own wrapper would turn this into a response for the outer middlewares only.
                return response_for_exception(request, exc), index
            if response:
                return response, index + 1  # its own process_response runs on it
        return None, len(self.middlewares)

    def process_responses(
        self, request: HttpRequest, response: HttpResponseBase, ran: int
    ) -> HttpResponseBase:
        for middleware in reversed(self.middlewares[:ran]):
            if not hasattr(middleware, "process_response"):
                continue
            try:
                response = middleware.process_response(request, response)
            except Exception as exc:
                response = response_for_exception(request, exc)
        return response


class GroupedMiddlewareHandler(BaseHandler):
    """Django's request handling, with consecutive plain mixins run as one group each (async)."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django's BaseHandler.load_middleware(is_async=True), but for the groups; the sync
        # chain (one thread throughout, no hops) stays Django's.
        if not is_async:
            super().load_middleware(is_async)
            return
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []

        inner = self._get_response_async  # type: ignore[attr-defined]  # Django's, untyped in django-stubs
        handler: Handler = convert_exception_to_response(inner)
        group: list[MiddlewareMixin] = []  # the current run of plain mixins, innermost first
        for middleware_path in reversed(settings.MIDDLEWARE):
            middleware = import_string(middleware_path)
            plain = is_plain_mixin(middleware)
            if not plain:
                handler = _close_group(group, handler)
            can_async = _can_async(middleware, middleware_path)
            instance = self._instantiate(middleware, middleware_path, handler, can_async)
            if instance is None:
                continue
            self._register_hooks(instance)
            if plain:
                group.append(instance)
            else:
                handler = convert_exception_to_response(instance)
                if not can_async:
                    handler = self.adapt_method_mode(True, handler, False)
        self._middleware_chain = _close_group(group, handler)

    def _instantiate(self, middleware: Any, path: str, handler: Handler, can_async: bool) -> Any | None:
        """The middleware made around ``handler`` (adapted to what it can call), or None: not used."""
        adapted = handler if can_async else self.adapt_method_mode(False, handler, True)
        try:
            instance = middleware(adapted)
        except MiddlewareNotUsed as exc:
            if settings.DEBUG:
                logger.debug("MiddlewareNotUsed(%r): %s", path, exc)
            return None
        if instance is None:
            raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
        return instance

    def _register_hooks(self, instance: Any) -> None:
        # process_view, process_template_response and process_exception stay Django's.
        if hasattr(instance, "process_view"):
            self._view_middleware.insert(0, self.adapt_method_mode(True, instance.process_view))
        if hasattr(instance, "process_template_response"):
            self._template_response_middleware.append(
                self.adapt_method_mode(True, instance.process_template_response)
            )
        if hasattr(instance, "process_exception"):
            self._exception_middleware.append(self.adapt_method_mode(False, instance.process_exception))


def _can_async(middleware: Any, path: str) -> bool:
    can_sync = getattr(middleware, "sync_capable", True)
    can_async = bool(getattr(middleware, "async_capable", False))
    if not can_sync and not can_async:
        raise RuntimeError(
            f"Middleware {path} must have at least one of sync_capable/async_capable set to True."
        )
    return can_async


def _close_group(group: list[MiddlewareMixin], handler: Handler) -> Handler:
    """``handler`` wrapped in the run of plain mixins collected (emptied), if any."""
    if not group:
        return handler
    wrapped = convert_exception_to_response(_Group(list(reversed(group)), handler))
    group.clear()
    return wrapped
