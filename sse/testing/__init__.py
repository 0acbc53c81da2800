"""Test your streams: read a ``text/event-stream`` answer the way a browser does.

::

    async with sse.testing.connect(async_client, "/sse/stream/?channel=orders.customer.1") as stream:
        assert stream.status_code == 200  # connect() returns once the stream is subscribed
        await sse.apublish("orders.customer.1", {"status": "shipped"}, event="order")
        event = await stream.next_event(timeout=5)
        assert event.event == "order" and event.json() == {"status": "shipped"}

:func:`connect` takes Django's :class:`django.test.AsyncClient` (pytest-django's
``async_client`` fixture, ``self.async_client`` of Django's test cases);
:class:`EventParser` and :func:`parse_events` implement the event-stream
interpretation of WHATWG HTML §9.2.6 for any bytes.

Streaming tests run outside a test transaction: ``@pytest.mark.django_db(transaction=True)``
under pytest-django, ``django.test.TransactionTestCase`` under ``manage.py test``.
docs/testing.md says why; :func:`connect` refuses to run inside ``TestCase``'s transaction.
"""

from __future__ import annotations

from sse.testing.client import connect
from sse.testing.parser import EventParser, ReceivedEvent, parse_events
from sse.testing.stream import EventStream

__all__ = ["EventParser", "EventStream", "ReceivedEvent", "connect", "parse_events"]
