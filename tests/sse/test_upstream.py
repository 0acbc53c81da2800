"""The upstream internals ``sse.server.daphne`` and ``sse.server.asgi`` rely on, one test each.

Daphne, Twisted, asgiref and Django make no promise about any of these: a new
release may rename or drop one, and sse would then fail at run time (a stream
server that cannot accept a connection, streams back on a thread each). These
tests fail first, naming the attribute, where it lives and the installed
version. pyproject.toml caps Daphne, asgiref and Django below their first release
these tests have not run; when one fails after raising a cap, adapt sse (and the
comment at the top of sse/server/daphne.py or sse/server/asgi.py) before raising it. Twisted is
not capped: sse uses only its documented interfaces, and a Twisted test failing
here means a documented behaviour changed.

``sse.server.daphne`` uses Twisted's public interfaces only (a twisted.web ``Request`` as
an ``IConsumer`` of a push producer): its tests here pin down the behaviour the
interfaces document, which sse relies on. Of Daphne it uses the command line's
``server_class``, the ``Server`` constructor's arguments and ``Server.handle_reply``.

Real objects wherever possible: a real listening ``tcp.Port`` and the
``tcp.Server`` it accepts (on a private reactor instance that never runs, driven by
hand), a real ``HTTPChannel``, real Daphne ``Server`` instances, real ``SyncToAsync`` calls.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import inspect
import io
import re
import socket
import textwrap
import threading
from collections.abc import Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib.metadata import version
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from daphne import http_protocol, ws_protocol
from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server
from django.core.handlers.asgi import ASGIHandler
from twisted.internet import defer, protocol
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import ConnectionDone
from twisted.internet.selectreactor import SelectReactor
from twisted.python.failure import Failure
from twisted.web import http

from sse.server.backpressure import FlowControl
from sse.server.daphne_server import InputQueue, StreamingServer

DISTRIBUTIONS = {"twisted": "Twisted", "daphne": "daphne", "asgiref": "asgiref", "django": "Django"}


def where(name: str, upstream: str) -> str:
    """``name`` (a dotted path under ``upstream``) with the installed version of its distribution."""
    dist = DISTRIBUTIONS[upstream]
    return f"{name} ({dist} {version(dist)})"


def relied_on(name: str, upstream: str, problem: str, user: str = "sse.daphne") -> str:
    return f"{where(name, upstream)}: {problem}. {user} relies on it (see the top of sse/server/daphne.py)."


def function_body(function: Any) -> list[ast.stmt]:
    """The statements of ``function``, without its docstring."""
    node = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return body


def source(statements: list[ast.stmt]) -> str:
    return "\n".join(ast.unparse(statement) for statement in statements)


# --- a real Twisted TCP connection ---------------------------------------------------------------


class _Recorder(protocol.Factory):
    def __init__(self) -> None:
        self.protocols: list[protocol.Protocol] = []

    def buildProtocol(self, addr: Any) -> protocol.Protocol:
        built = protocol.Protocol()
        built.factory = self
        self.protocols.append(built)
        return built


class Listening:
    """A ``tcp.Port`` listening on 127.0.0.1 through a ``tcp:`` endpoint, as Daphne listens."""

    def __init__(self) -> None:
        # A reactor of its own that never runs: the test drives the port and the
        # connections by hand (doRead, doWrite), Daphne's global reactor is left alone.
        self.reactor = SelectReactor()
        self.factory = _Recorder()
        listened = serverFromString(self.reactor, "tcp:port=0:interface=127.0.0.1").listen(self.factory)
        self.port: Any = listened.result if isinstance(listened, defer.Deferred) else listened
        self.clients: list[socket.socket] = []

    def accept(self) -> tuple[Any, socket.socket]:
        """Connect a client socket; the port accepts it: (the server's transport, the client)."""
        client = socket.create_connection(("127.0.0.1", self.port.getHost().port))
        self.clients.append(client)
        accepted = len(self.factory.protocols)
        self.port.doRead()
        assert len(self.factory.protocols) == accepted + 1, "the port accepted no connection"
        return self.factory.protocols[-1].transport, client

    def close(self) -> None:
        self.reactor.removeAll()
        for built in self.factory.protocols:
            sock = getattr(built.transport, "socket", None)  # gone once the connection is lost
            if sock is not None:
                sock.close()
        for client in self.clients:
            client.close()
        self.port.socket.close()
        self.reactor.waker.connectionLost(None)


@pytest.fixture
def listening() -> Iterator[Listening]:
    opened = Listening()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def connection(listening: Listening) -> tuple[Any, socket.socket]:
    """A real accepted ``tcp.Server`` connection and its client socket."""
    return listening.accept()


# --- twisted.web: a Request as an IConsumer ------------------------------------------------------


def _http_channel(transport: Any) -> http.HTTPChannel:
    channel = http.HTTPChannel()
    channel.timeOut = None  # no timer on Daphne's global reactor
    channel.makeConnection(transport)
    return channel


def _started_request(transport: Any) -> http.Request:
    request = http.Request(_http_channel(transport))
    request.method, request.clientproto = b"GET", b"HTTP/1.1"
    request.setResponseCode(200)
    return request


def _fill(transport: Any, client: socket.socket, request: http.Request) -> None:
    """Write through ``request`` until the transport's buffer is past its size (the client reads nothing)."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    request.write(b"x" * (transport.bufferSize + 1))


def _drain(transport: Any, client: socket.socket, flow: FlowControl) -> None:
    """The client reads while the transport writes out what it buffered, until ``flow`` resumes."""
    client.settimeout(5)
    for _ in range(10_000):
        if not flow.paused:
            return
        transport.doWrite()  # what the reactor calls when the socket is writable
        client.recv(1 << 20)


def test_request_pauses_and_resumes_a_push_producer(connection: tuple[Any, socket.socket]) -> None:
    # sse.server.daphne_server.StreamingServer.handle_reply registers a FlowControl on each response
    # and waits while paused.
    name = "twisted.web.http.Request.registerProducer (IConsumer) with an IPushProducer"
    transport, client = connection
    request = _started_request(transport)
    flow = FlowControl()
    request.registerProducer(flow, True)
    _fill(transport, client, request)
    assert flow.paused, relied_on(
        name, "twisted", "a write past the transport's buffer size did not pause it"
    )
    _drain(transport, client, flow)
    assert not flow.paused, relied_on(name, "twisted", "the buffer written out did not resume it")
    request.unregisterProducer()
    assert request.producer is None


def test_a_producer_registered_on_a_full_buffer_is_paused_by_the_next_write(
    connection: tuple[Any, socket.socket],
) -> None:
    # Why sse.server.daphne reads nothing of the channel's state when it registers: the next write tells.
    name = "twisted.internet.abstract.FileDescriptor.write"
    transport, client = connection
    request = _started_request(transport)
    _fill(transport, client, request)
    flow = FlowControl()
    request.registerProducer(flow, True)
    assert not flow.paused
    request.write(b"y")
    assert flow.paused, relied_on(
        name,
        "twisted",
        "a write while the buffer is over its size does not pause a producer registered since",
    )


async def test_a_lost_connection_stops_the_producer_and_releases_a_waiting_send(
    connection: tuple[Any, socket.socket],
) -> None:
    name = "twisted.internet.interfaces.IProducer.stopProducing on connection loss"
    transport, client = connection
    request = _started_request(transport)
    flow = FlowControl()
    request.registerProducer(flow, True)
    _fill(transport, client, request)
    waiting = asyncio.ensure_future(flow.writable(30))
    await asyncio.sleep(0)
    assert not waiting.done()
    transport.connectionLost(Failure(ConnectionDone()))  # what the reactor calls
    assert await asyncio.wait_for(waiting, 5) is True, relied_on(
        name, "twisted", "the request's producer was not stopped (or resumed) when the connection was lost"
    )


def test_request_finished_and_channel(connection: tuple[Any, socket.socket]) -> None:
    name = "twisted.web.http.Request.finished/channel"
    assert issubclass(http_protocol.WebRequest, http.Request), (
        where("daphne.http_protocol.WebRequest", "daphne") + ": no longer a twisted.web.http.Request"
    )
    transport, _ = connection
    channel = _http_channel(transport)
    request = http.Request(channel)
    assert request.channel is channel and not request.finished, relied_on(
        name, "twisted", "a new request's channel is not the one given, or it is finished"
    )
    request.connectionLost(Failure(ConnectionDone()))
    assert request.channel is None, relied_on(
        name, "twisted", "a request whose connection is lost keeps a channel"
    )


# --- daphne --------------------------------------------------------------------------------------


class _SseCopy(ast.NodeTransformer):
    """Daphne's create_application turned into what sse's copy should be: its two changes."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        called = ast.unparse(node.func)
        if called == "asyncio.Queue":
            return ast.Call(func=ast.Name("InputQueue", ast.Load()), args=[], keywords=[])
        if called == "asyncio.ensure_future":
            node.keywords = [keyword for keyword in node.keywords if keyword.arg != "loop"]
        return node


def test_server_create_application_is_still_what_sse_copied() -> None:
    name = "daphne.server.Server.create_application"
    upstream = inspect.signature(Server.create_application)
    assert list(upstream.parameters) == ["self", "protocol", "scope"], relied_on(
        name, "daphne", f"its signature is now {upstream}"
    )
    expected = source([_SseCopy().visit(statement) for statement in function_body(Server.create_application)])
    copied = source(function_body(StreamingServer.application_with_lighter_queue))
    assert copied == expected, relied_on(
        name,
        "daphne",
        "it changed since sse.server.daphne_server.StreamingServer.application_with_lighter_queue copied it "
        "(with a lighter queue); "
        f"Daphne's, with sse's two changes applied:\n{expected}\n\nsse's copy:\n{copied}",
    )


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await receive()


async def test_server_create_application_behaves_like_the_copy() -> None:
    name = "daphne.server.Server.create_application"
    made = {}
    for server_class in (Server, StreamingServer):
        calls: list[dict[str, Any]] = []

        async def app(scope: Any, receive: Any, send: Any, calls: list[dict[str, Any]] = calls) -> None:
            calls.append({"scope": scope, "receive": receive, "send": send})
            await receive()

        server = server_class(app, endpoints=["tcp:port=0:interface=127.0.0.1"])
        server.connections = {}  # what Server.run starts with
        protocol_ = object()
        server.protocol_connected(protocol_)
        queue = server.create_application(protocol_, {"type": "http"})
        instance = server.connections[protocol_]["application_instance"]
        await asyncio.sleep(0)
        (call,) = calls
        assert isinstance(call["send"], partial) and call["send"].args == (protocol_,)
        assert call["send"].func == server.handle_reply
        queue.put_nowait({"type": "http.disconnect"})
        await asyncio.wait_for(instance, 5)
        made[server_class.__name__] = (
            call["scope"],
            sorted(server.connections[protocol_]),
            call["receive"].__name__,
        )
    assert made["Server"] == made["StreamingServer"], relied_on(
        name, "daphne", f"differs from sse's copy: {made}"
    )


def test_server_handle_reply() -> None:
    name = "daphne.server.Server.handle_reply"
    assert inspect.iscoroutinefunction(Server.handle_reply), relied_on(name, "daphne", "is not a coroutine")
    parameters = list(inspect.signature(Server.handle_reply).parameters)
    assert parameters == ["self", "protocol", "message"], relied_on(
        name, "daphne", f"takes {parameters}, not (self, protocol, message)"
    )


def test_server_constructor_keeps_what_it_is_given() -> None:
    name = "daphne.server.Server(application=, endpoints=, action_logger=)"
    endpoints = ["tcp:port=0:interface=127.0.0.1"]
    server = Server(application=_app, endpoints=endpoints, action_logger=print)
    assert (server.application, server.endpoints, server.action_logger) == (_app, endpoints, print), (
        relied_on(name, "daphne", "the application, endpoints or action logger is not used as given")
    )


def test_cli_server_class() -> None:
    name = "daphne.cli.CommandLineInterface.server_class"
    assert getattr(CommandLineInterface, "server_class", None) is Server, relied_on(
        name, "daphne", "is missing or not daphne.server.Server"
    )
    run = inspect.getsource(CommandLineInterface.run)
    built = re.search(r"self\.server_class\((.*?)\n        \)", run, re.S)
    assert built and all(
        f"{arg}=" in built.group(1) for arg in ("application", "endpoints", "action_logger")
    ), relied_on(
        name,
        "daphne",
        "CommandLineInterface.run no longer builds the server with server_class(application=, endpoints=, "
        "action_logger=...)",
    )
    assert "self.server.run()" in run, relied_on(
        name, "daphne", "CommandLineInterface.run no longer calls run()"
    )


def test_protocols_use_only_put_nowait_on_the_application_queue() -> None:
    # sse.server.daphne_server.InputQueue replaces asyncio.Queue: put_nowait, get (the app's receive),
    # truthiness.
    for module in (http_protocol, ws_protocol):
        used = set(re.findall(r"application_queue\.(\w+)", inspect.getsource(module)))
        assert used <= {"put_nowait"}, relied_on(
            f"{module.__name__} application_queue", "daphne", f"now uses {sorted(used)} of the input queue"
        )
    assert InputQueue()


def test_daphne_logs_a_complete_line_and_access_log_generator_stream() -> None:
    # sse.server.daphne drops Daphne's own ("http", "complete") line (it writes one per request itself)
    # and writes its lines to the stream of the CLI's AccessLogGenerator.
    reply = inspect.getsource(http_protocol.WebRequest.handle_reply)
    assert re.search(r"self\.server\.log_action\(\s*\"http\",\s*\"complete\"", reply), relied_on(
        "daphne.http_protocol.WebRequest.handle_reply", "daphne", 'no longer logs ("http", "complete", ...)'
    )
    stream = object()
    assert AccessLogGenerator(stream).stream is stream, relied_on(
        "daphne.access.AccessLogGenerator.stream", "daphne", "the stream is not kept as .stream"
    )
    cli = inspect.getsource(CommandLineInterface.run)
    assert "AccessLogGenerator(access_log_stream)" in cli, relied_on(
        "daphne.cli.CommandLineInterface.run", "daphne", "no longer passes an AccessLogGenerator"
    )


async def test_send_is_handle_reply_on_the_twisted_web_request(connection: tuple[Any, socket.socket]) -> None:
    # A real StreamingServer, a real WebRequest on a real channel and transport: the application's send()
    # reaches StreamingServer.handle_reply with the request, which registers its flow control there; the
    # access log has one line when the client goes, from what the application saw.
    name = "daphne.server.Server.create_application: send=partial(handle_reply, protocol)"
    transport, _ = connection
    out = io.StringIO()
    server = StreamingServer(
        _streaming_app, endpoints=["tcp:port=0:interface=127.0.0.1"], action_logger=AccessLogGenerator(out)
    )
    server.connections = {}  # what Server.run starts with
    channel = _http_channel(transport)
    channel.factory = http_protocol.HTTPFactory(server)  # where a WebRequest finds its server
    request = http_protocol.WebRequest(channel)
    request.gotLength(0)  # what the channel calls once the headers are in
    request.requestReceived(b"GET", b"/s/?%74oken=secret", b"HTTP/1.1")
    for _ in range(50):
        await asyncio.sleep(0)
        if getattr(request, "sse_flow", None) is not None:
            break
    assert isinstance(request.producer, FlowControl), relied_on(
        name,
        "daphne",
        "the application's http.response.start did not reach StreamingServer.handle_reply with the request",
    )
    request.connectionLost(Failure(ConnectionDone()))
    instance = server.connections[request]["application_instance"]
    await asyncio.wait_for(instance, 5)  # the app got http.disconnect and returned
    (line,) = out.getvalue().splitlines()
    assert re.search(r'"GET /s/\?%74oken=\[redacted\]" 200 6 \d+\.\d{3}s client-gone$', line), line


async def _streaming_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"data:\n", "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass


# --- asgiref and Django (sse.server.asgi) ---------------------------------------------------------------


def _thread_name() -> str:
    return threading.current_thread().name


async def test_sync_to_async_context_to_thread_executor() -> None:
    name = "asgiref.sync.SyncToAsync.context_to_thread_executor"
    mapping = getattr(SyncToAsync, "context_to_thread_executor", None)
    assert isinstance(mapping, MutableMapping), relied_on(
        name, "asgiref", f"is {type(mapping).__name__}, not a mutable mapping", "sse.server.asgi"
    )
    context = ThreadSensitiveContext()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upstream-probe")
    mapping[context] = executor
    token = SyncToAsync.thread_sensitive_context.set(context)
    try:
        ran_on = await sync_to_async(_thread_name)()
    finally:
        SyncToAsync.thread_sensitive_context.reset(token)
        mapping.pop(context, None)
        executor.shutdown()
    assert ran_on.startswith("upstream-probe"), relied_on(
        name,
        "asgiref",
        f"an executor put in it for the current context is not used (ran on {ran_on})",
        "sse.server.asgi",
    )


async def test_sync_to_async_thread_sensitive_context() -> None:
    name = "asgiref.sync.SyncToAsync.thread_sensitive_context"
    variable = getattr(SyncToAsync, "thread_sensitive_context", None)
    assert isinstance(variable, contextvars.ContextVar), relied_on(
        name, "asgiref", f"is {type(variable).__name__}, not a ContextVar", "sse.server.asgi"
    )
    contexts = [ThreadSensitiveContext(), ThreadSensitiveContext()]
    executors = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"upstream-{n}") for n in range(2)]
    ran_on = []
    try:
        for context, executor in zip(contexts, executors, strict=True):
            SyncToAsync.context_to_thread_executor[context] = executor
            token = variable.set(context)
            try:
                ran_on.append(await sync_to_async(_thread_name)())
            finally:
                variable.reset(token)
    finally:
        for context, executor in zip(contexts, executors, strict=True):
            SyncToAsync.context_to_thread_executor.pop(context, None)
            executor.shutdown()
    assert [n.rsplit("_", 1)[0] for n in ran_on] == ["upstream-0", "upstream-1"], relied_on(
        name, "asgiref", f"its value does not pick the executor (ran on {ran_on})", "sse.server.asgi"
    )


async def test_thread_sensitive_context_is_usable_without_entering_it() -> None:
    name = "asgiref.sync.ThreadSensitiveContext"
    try:
        context = ThreadSensitiveContext()
    except TypeError as error:
        pytest.fail(
            relied_on(name, "asgiref", f"cannot be made without arguments ({error})", "sse.server.asgi")
        )
    # sse.server.asgi never enters its context (tasks a stream starts outlive the stream):
    # calls made under it, before and after other requests' contexts come and go, still run.
    token = SyncToAsync.thread_sensitive_context.set(context)
    try:
        first = await sync_to_async(_thread_name)()
        async with ThreadSensitiveContext():
            await sync_to_async(_thread_name)()
        second = await sync_to_async(_thread_name)()
    except RuntimeError as error:
        pytest.fail(
            relied_on(name, "asgiref", f"a context never entered is refused ({error})", "sse.server.asgi")
        )
    finally:
        SyncToAsync.thread_sensitive_context.reset(token)
        executor = SyncToAsync.context_to_thread_executor.pop(context, None)
        if executor is not None:
            executor.shutdown()
    assert first == second, relied_on(name, "asgiref", "one context's calls moved thread", "sse.server.asgi")


def test_asgi_handler_call_only_wraps_handle_in_a_thread_sensitive_context() -> None:
    name = "django.core.handlers.asgi.ASGIHandler.handle"
    assert inspect.iscoroutinefunction(ASGIHandler.handle), relied_on(
        name, "django", "is not a coroutine", "sse.server.asgi"
    )
    parameters = list(inspect.signature(ASGIHandler.handle).parameters)
    assert parameters == ["self", "scope", "receive", "send"], relied_on(
        name, "django", f"takes {parameters}", "sse.server.asgi"
    )
    # sse.server.asgi calls handle() itself for streams: __call__ must add nothing else a request needs.
    call = function_body(ASGIHandler.__call__)
    last = source(call[-1:])
    assert last == "async with ThreadSensitiveContext():\n    await self.handle(scope, receive, send)", (
        relied_on(
            "django.core.handlers.asgi.ASGIHandler.__call__",
            "django",
            f"no longer ends with handle() in a ThreadSensitiveContext:\n{last}",
            "sse.server.asgi",
        )
    )
    before = source(call[:-1])
    assert before.startswith("if scope['type'] != 'http':") and before.count("\n") == 1, relied_on(
        "django.core.handlers.asgi.ASGIHandler.__call__",
        "django",
        f"does more than check the scope type before handle():\n{before}",
        "sse.server.asgi",
    )


def test_server_run_listens_with_the_http_factory_it_assigns() -> None:
    """StreamingServer.http_factory is a property that wraps what Daphne's run() assigns
    (sse.server.request_deadline): run() must assign it, then listen with that attribute."""
    name = "daphne.server.Server.run"
    lines = [line.strip() for line in inspect.getsource(Server.run).splitlines()]
    assigned = (
        lines.index("self.http_factory = HTTPFactory(self)")
        if lines.count("self.http_factory = HTTPFactory(self)")
        else -1
    )
    listens = [n for n, line in enumerate(lines) if "ep.listen(self.http_factory)" in line]
    assert assigned >= 0 and listens and listens[0] > assigned, relied_on(
        name, "daphne", "it no longer assigns self.http_factory and then listens with it"
    )
    assert callable(getattr(Server, "protocol_disconnected", None)), relied_on(
        "daphne.server.Server.protocol_disconnected", "daphne", "it is gone"
    )


# sse.server.stream_handling copies these two from Django 6.1, changed (its docstring says how),
# and runs the copy on every supported Django: a release whose code differs must be read (do
# the methods the copy calls still do what it expects?) before its fingerprints are added.
# Django 5.2's and 6.0's handle wait on two tasks (asyncio.wait) where 6.1 has a TaskGroup, and 5.2's
# send_response writes the headers its own way; the copy's calls (read_body, create_request,
# listen_for_disconnect, run_get_response, chunk_bytes, send_response) are the same there.
_COPIED = {
    (5, 2): {"handle": "dcdff57ccde12609", "send_response": "5a0147c5940dbf7d"},
    (6, 0): {"handle": "dcdff57ccde12609", "send_response": "4dd11a293b0ffc49"},
    (6, 1): {"handle": "2971de2657f95279", "send_response": "4dd11a293b0ffc49"},
}


def test_stream_handling_copies_djangos_handle_and_send_response() -> None:
    import hashlib

    import django
    from django.core.handlers.base import BaseHandler

    read = _COPIED.get(django.VERSION[:2])
    assert read is not None, relied_on(
        "django.core.handlers.asgi.ASGIHandler.handle",
        "django",
        "not read for this release",
        "sse.server.stream_handling",
    )
    for name, fingerprint in read.items():
        code = ast.unparse(ast.parse(textwrap.dedent(inspect.getsource(getattr(ASGIHandler, name)))))
        assert hashlib.sha256(code.encode()).hexdigest()[:16] == fingerprint, relied_on(
            f"django.core.handlers.asgi.ASGIHandler.{name}", "django", "changed", "sse.server.stream_handling"
        )
    # The closer sse.server.stream_handling replaces with one that holds only the uploaded files.
    assert "response._resource_closers.append(request.close)" in inspect.getsource(
        BaseHandler.get_response_async
    ), relied_on(
        "django.core.handlers.base.BaseHandler.get_response_async",
        "django",
        "no longer appends request.close to the response's closers",
        "sse.server.stream_handling",
    )
