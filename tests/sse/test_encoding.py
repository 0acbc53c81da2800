"""The wire format, to the byte (WHATWG HTML §9.2)."""

from __future__ import annotations

import pytest

from sse.testing import EventParser, parse_events
from sse.wire.encoding import (
    Event,
    EventEncodingError,
    encode_body,
    encode_comment,
    encode_event,
    encode_id,
    encode_opening,
    encode_reset,
    encode_retry,
    split_lines,
)

# (data, the data lines the stream must carry)
DATA_CASES = [
    pytest.param("hello", b"data: hello\n", id="plain"),
    pytest.param("a\nb", b"data: a\ndata: b\n", id="lf"),
    pytest.param("a\rb", b"data: a\ndata: b\n", id="lone-cr"),
    pytest.param("a\r\nb", b"data: a\ndata: b\n", id="crlf-is-one-break"),
    pytest.param("a\n\nb", b"data: a\ndata: \ndata: b\n", id="blank-line-inside"),
    pytest.param("a\n", b"data: a\ndata: \n", id="trailing-lf-gives-empty-last-line"),
    pytest.param("a\r", b"data: a\ndata: \n", id="trailing-cr"),
    pytest.param("a\r\n", b"data: a\ndata: \n", id="trailing-crlf"),
    pytest.param("", b"data: \n", id="empty"),
    pytest.param("\n", b"data: \ndata: \n", id="only-lf"),
    pytest.param("\r\r\n", b"data: \ndata: \ndata: \n", id="cr-then-crlf"),
    pytest.param("\n\r", b"data: \ndata: \ndata: \n", id="lf-then-cr"),
    pytest.param("a\u2028b", "data: a\u2028b\n".encode(), id="u2028-not-split"),
    pytest.param("a\u2029b", "data: a\u2029b\n".encode(), id="u2029-not-split"),
    pytest.param("a\x85b", "data: a\x85b\n".encode(), id="nel-not-split"),
    pytest.param("a\x0cb", b"data: a\x0cb\n", id="form-feed-not-split"),
    pytest.param("a\x0bb", b"data: a\x0bb\n", id="vertical-tab-not-split"),
    pytest.param("a\x1cb\x1db\x1eb", b"data: a\x1cb\x1db\x1eb\n", id="separators-not-split"),
    pytest.param(" lead", b"data:  lead\n", id="leading-space-kept"),
    pytest.param(
        "data: x\n\nevent: evil", b"data: data: x\ndata: \ndata: event: evil\n", id="fields-in-data"
    ),
    pytest.param("h\u00e9llo \u2713 \U0001f600", "data: h\u00e9llo \u2713 \U0001f600\n".encode(), id="utf8"),
    pytest.param('{"a":1}', b'data: {"a":1}\n', id="json"),
]


@pytest.mark.parametrize(("data", "lines"), DATA_CASES)
def test_data_is_split_on_cr_lf_crlf_only(data: str, lines: bytes) -> None:
    assert Event(data=data).encode() == lines + b"\n"


@pytest.mark.parametrize(("data", "lines"), DATA_CASES)
def test_a_browser_parser_reads_the_data_back(data: str, lines: bytes) -> None:
    # Line breaks come back as LF (the format cannot carry CR); everything else is exact.
    events = parse_events(Event(data=data, event="tick", id="c:7").encode())
    assert [(e.event, e.data, e.id) for e in events] == [
        ("tick", data.replace("\r\n", "\n").replace("\r", "\n"), "c:7")
    ]


def test_split_lines_is_not_str_splitlines() -> None:
    text = "a\u2028b\x85c\x0cd\n"
    assert split_lines(text) == ["a\u2028b\x85c\x0cd", ""]
    assert text.splitlines() != split_lines(text)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(Event(data="x", event="message"), b"event: message\ndata: x\n\n", id="event"),
        pytest.param(Event(data="x", id="ab:12"), b"id: ab:12\ndata: x\n\n", id="id"),
        pytest.param(Event(data="x", id=""), b"id: \ndata: x\n\n", id="empty-id-resets"),
        pytest.param(Event(data="x", retry=3000), b"retry: 3000\ndata: x\n\n", id="retry"),
        pytest.param(Event(data="x", retry=0), b"retry: 0\ndata: x\n\n", id="retry-zero"),
        pytest.param(
            Event(data="a\nb", event="note", id="t:1.2", retry=10),
            b"id: t:1.2\nevent: note\nretry: 10\ndata: a\ndata: b\n\n",
            id="all-fields",
        ),
        pytest.param(
            Event(data="x", event="Error"), b"event: Error\ndata: x\n\n", id="names-are-case-sensitive"
        ),
        pytest.param(
            Event(data="x", event="caf\u00e9"), "event: caf\u00e9\ndata: x\n\n".encode(), id="utf8-name"
        ),
    ],
)
def test_fields(event: Event, expected: bytes) -> None:
    assert encode_event(event) == expected
    assert event.encode() == expected


INJECTIONS = [
    "a\nb",
    "a\rb",
    "a\r\nb",
    "message\nid: 999",
    "x\ndata: forged",
    "x\r\n\r\ndata: forged\r\n",
    "\n",
    "\r",
    "trailing\n",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_event_name_with_a_line_break_is_rejected(value: str) -> None:
    with pytest.raises(EventEncodingError, match="event must not contain CR or LF"):
        Event(data="x", event=value)


@pytest.mark.parametrize("value", INJECTIONS)
def test_id_with_a_line_break_is_rejected(value: str) -> None:
    with pytest.raises(EventEncodingError, match="id must not contain CR or LF"):
        Event(data="x", id=value)


@pytest.mark.parametrize("value", ["\0", "a\0b", "1\x00"])
def test_id_with_nul_is_rejected(value: str) -> None:
    with pytest.raises(EventEncodingError, match="NUL"):
        Event(data="x", id=value)


@pytest.mark.parametrize("name", ["error", "open"])
def test_reserved_event_names_are_rejected(name: str) -> None:
    with pytest.raises(EventEncodingError, match="reserved"):
        Event(data="x", event=name)


def test_empty_event_name_is_rejected() -> None:
    with pytest.raises(EventEncodingError, match="empty"):
        Event(data="x", event="")


@pytest.mark.parametrize("data", [None, b"bytes", 1, {"a": 1}])
def test_data_must_be_text(data: object) -> None:
    with pytest.raises(EventEncodingError, match="data must be a str"):
        Event(data=data)  # type: ignore[arg-type]


@pytest.mark.parametrize("retry", [-1, True, False, 1.5, "100", "1e3"])
def test_retry_is_digits_only(retry: object) -> None:
    with pytest.raises(EventEncodingError, match="retry"):
        Event(data="x", retry=retry)  # type: ignore[arg-type]
    with pytest.raises(EventEncodingError, match="retry"):
        encode_retry(retry)  # type: ignore[arg-type]


@pytest.mark.parametrize(("ms", "expected"), [(0, b"retry: 0\n\n"), (2000, b"retry: 2000\n\n")])
def test_retry_block(ms: int, expected: bytes) -> None:
    assert encode_retry(ms) == expected
    parser = EventParser()
    parser.feed(expected)
    assert parser.retry == ms


def test_encoding_errors_are_value_errors() -> None:
    # publish() promises ValueError for bad input; the encoder's error is one.
    assert issubclass(EventEncodingError, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ping", b": ping\n\n", id="text"),
        pytest.param("", b":\n\n", id="empty"),
        pytest.param("a\nb", b": a\n: b\n\n", id="lf-gives-two-comment-lines"),
        pytest.param("a\r\ndata: forged", b": a\n: data: forged\n\n", id="injection-stays-comment"),
        pytest.param("a\r\rb", b": a\n:\n: b\n\n", id="empty-middle-line"),
        pytest.param("a\u2028b", ": a\u2028b\n\n".encode(), id="u2028-not-split"),
    ],
)
def test_comments(text: str, expected: bytes) -> None:
    encoded = encode_comment(text)
    assert encoded == expected
    # Whatever the text, every line is a comment: nothing is dispatched.
    assert parse_events(encoded) == []
    assert all(line.startswith(b":") for line in encoded.split(b"\n")[:-2])


def test_default_comment_is_an_empty_comment() -> None:
    assert encode_comment() == b":\n\n"


def test_event_is_frozen() -> None:
    event = Event(data="x")
    with pytest.raises(AttributeError):
        event.event = "a\nb"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, b"retry: 2000\n\n", id="retry-only"),
        pytest.param({"cursor": "t:4"}, b"retry: 2000\nid: t:4\n\n", id="with-the-cursor"),
        pytest.param(
            {"comment": "too many open streams"},
            b"retry: 2000\n: too many open streams\n\n",
            id="with-a-comment",
        ),
        pytest.param(
            {"comment": "a\ndata: x"}, b"retry: 2000\n: a\n: data: x\n\n", id="comment-cannot-inject"
        ),
    ],
)
def test_opening_block(kwargs: dict[str, str], expected: bytes) -> None:
    assert encode_opening(2000, **kwargs) == expected
    parser = EventParser()
    assert parser.feed(expected) == []
    assert parser.retry == 2000
    assert parser.last_event_id == kwargs.get("cursor", "")


def test_reset_frame() -> None:
    frame = encode_reset("t:9", "expired")
    assert frame == b'id: t:9\nevent: reset\ndata: {"reason": "expired"}\n\n'
    [event] = parse_events(frame)
    assert (event.event, event.json(), event.id) == ("reset", {"reason": "expired"}, "t:9")


def test_body_is_what_follows_the_id() -> None:
    assert (
        encode_id("x:1") + encode_body("tick", "a\nb") == Event(data="a\nb", event="tick", id="x:1").encode()
    )
    assert encode_body(None, "a") == b"data: a\n\n"
