"""The dashboard's details: busiest channels and recent errors in each process's figures
(in-process, on a hub of the test's own), and the page's time axes and the two sections
(served by Daphne, live in headless Chromium)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from notifications.dashboard import PROCESS, RECENT_ERRORS, Sampler, hide_channel_names, recent_errors
from sse import ChannelHub
from sse.hub.groups import ChannelGroup
from tests.project.conftest import browser_login, login
from tests.servers import DaphneServer

WAIT_MS = 60000
AXIS = ["-5 min", "-4 min", "-3 min", "-2 min", "-1 min", "now"]


def open_group(hub: ChannelHub, name: str, streams: int, last_seq: int) -> ChannelGroup:
    """A channel group as the hub holds it once joined: ``streams`` members at ``last_seq``."""
    group = ChannelGroup(hub.group_parts, name)
    group.last_seq = last_seq
    for index in range(streams):
        group.members[object()] = index  # type: ignore[index]  # only counted
    hub.groups[name] = group
    return group


async def test_figures_carry_the_busiest_channels_by_events_per_second() -> None:
    hub = ChannelHub(asyncio.get_running_loop())
    sampler = Sampler(hub)
    quiet = open_group(hub, "chat.quiet", streams=3, last_seq=100)
    busy = open_group(hub, "chat.busy", streams=1, last_seq=7)
    sampler.sample_channels(None)  # first tick: nothing to compare with yet
    assert {row["events_per_s"] for row in sampler.channel_rates} == {0.0}

    busy.last_seq += 10
    quiet.last_seq += 1
    sampler.sample_channels(2.0)
    assert sampler.channel_rates == [
        {"channel": "chat.busy", "events_per_s": 5.0, "streams": 1},
        {"channel": "chat.quiet", "events_per_s": 0.5, "streams": 3},
    ]

    # A channel closed and joined again starts from the log's head: not a burst.
    open_group(hub, "chat.busy", streams=1, last_seq=5000)
    sampler.sample_channels(1.0)
    assert sampler.channel_rates[-1] == {"channel": "chat.busy", "events_per_s": 0.0, "streams": 1}

    # Only the 10 busiest.
    for n in range(12):
        open_group(hub, f"chat.room{n}", streams=1, last_seq=0)
    sampler.sample_channels(1.0)
    for n in range(12):
        hub.groups[f"chat.room{n}"].last_seq = n + 1
    sampler.sample_channels(1.0)
    channels = sampler.channel_rates
    assert [row["channel"] for row in channels] == [f"chat.room{n}" for n in range(11, 1, -1)]
    # Channel names never go out on the staff-wide channel (each viewer gets their own list).
    assert "channels" not in sampler.figures()


async def test_busiest_channels_of_every_process_merge() -> None:
    hub = ChannelHub(asyncio.get_running_loop())
    sampler = Sampler(hub)
    open_group(hub, "chat.shared", streams=2, last_seq=0)
    sampler.sample_channels(None)
    now = hub.loop.time()
    sampler.remote_rows = {
        "other:1": (now, [{"channel": "chat.shared", "events_per_s": 50.0, "streams": 3}]),
        "other:2": (now, [{"channel": "chat.other", "events_per_s": 30.0, "streams": 1}]),
        "gone:3": (now - 60, [{"channel": "chat.gone", "events_per_s": 99.0, "streams": 1}]),
    }
    # Events/s of the busiest process serving a channel, streams added up; silent processes out.
    assert sampler.merged_channels() == [
        {"channel": "chat.shared", "events_per_s": 50.0, "streams": 5},
        {"channel": "chat.other", "events_per_s": 30.0, "streams": 1},
    ]


def test_recent_errors_name_no_channel() -> None:
    marker = uuid.uuid4().hex[:8]
    message = f"a stream on chat.room.hush{marker}, broadcast could not start: chat.presence.hush{marker}."
    assert hide_channel_names(message) == (
        "a stream on chat.room.{slug}, broadcast could not start: chat.presence.{slug}."
    )
    logging.getLogger("sse.test").warning("re-checking access to chat.room.hush%s failed", marker)
    assert recent_errors.newest_first()[0]["message"] == "re-checking access to chat.room.{slug} failed"


async def test_figures_carry_recent_warnings_newest_first_bounded() -> None:
    sampler = Sampler(ChannelHub(asyncio.get_running_loop()))
    marker = uuid.uuid4().hex
    logging.getLogger("notifications.test").info("not kept %s", marker)
    logging.getLogger("django.test").warning("not ours %s", marker)
    logging.getLogger("sse.test").error("stream %s failed", marker)
    errors = sampler.figures()["errors"]
    assert errors[0]["message"] == f"stream {marker} failed"
    assert errors[0]["logger"] == "sse.test" and errors[0]["level"] == "ERROR"
    assert errors[0]["process"] == PROCESS and errors[0]["at"].endswith("+00:00")
    assert not [e for e in errors if marker in e["message"] and e is not errors[0]]

    sent = [f"warning {n} {marker}" for n in range(RECENT_ERRORS + 5)]
    for message in sent:
        logging.getLogger("notifications.test").warning(message)
    errors = sampler.figures()["errors"]
    assert len(errors) == RECENT_ERRORS == 20
    assert [e["message"] for e in errors] == sent[::-1][:RECENT_ERRORS]
    assert recent_errors in logging.getLogger("notifications").handlers


def test_page_renders_axes_channels_and_errors(site: DaphneServer) -> None:
    staff = login(site.url, "admin")
    try:
        page = staff.get("/dashboard/")
    finally:
        staff.close()
    assert page.status_code == 200
    for chart in ("streams", "delivered", "lag"):
        assert f'id="now-{chart}"' in page.text
    assert page.text.count("<span>-5 min</span>") == 3 and page.text.count("<span>now</span>") == 3
    assert 'id="busiest-heading">Busiest channels<' in page.text
    assert 'id="errors-heading">Recent errors<' in page.text
    assert 'id="recent-errors"' in page.text


@pytest.mark.browser
def test_page_shows_live_busiest_channels_and_axes(browser: Any, site: DaphneServer) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 720})
    try:
        page = context.new_page()
        browser_login(page, site.url, "admin")
        page.goto(site.url + "/dashboard/")
        page.locator("#live-state[data-state=live]").wait_for(timeout=WAIT_MS)
        # The page's own stream reads the dashboard channel: live figures list it with its stream.
        page.locator('#busiest-channels tbody tr[data-channel="dashboard"]').wait_for(timeout=WAIT_MS)
        streams = page.locator('#busiest-channels tbody tr[data-channel="dashboard"] td').nth(2).inner_text()
        assert int(streams) >= 1
        # The current value of a chart comes with the live figures.
        page.wait_for_function(
            "/^[0-9]/.test(document.getElementById('now-streams').textContent)", timeout=WAIT_MS
        )
        axis = page.locator("#chart-streams + .dashboard-axis span").all_inner_texts()
        assert axis == AXIS
        assert page.get_by_role("heading", name="Recent errors").is_visible()
        assert page.locator("#recent-errors li").count() >= 1  # an error or the empty state

        # Two more processes' figures, handed to the page's own handler once a second (real
        # processes would need a shared layer; a server warning cannot be provoked on demand):
        # their errors join the list, newest first; the viewer's merged busiest channels (the
        # server merges them) replace the table.
        marker = uuid.uuid4().hex
        page.evaluate(INJECT_OTHER_PROCESSES, marker)
        page.wait_for_function(
            "marker => {"
            " const row = document.querySelector(`#busiest-channels tr[data-channel='chat.${marker}']`);"
            " const cells = row ? [...row.children].map((td) => td.textContent) : [];"
            " return cells[1] === '50' && cells[2] === '5'; }",
            arg=marker,
            timeout=WAIT_MS,
        )
        newer = page.locator("#recent-errors li", has_text=f"newer {marker}")
        newer.wait_for(timeout=WAIT_MS)
        assert newer.locator("time").get_attribute("datetime") == "2026-11-30T12:00:10+00:00"
        messages = page.locator("#recent-errors .dashboard-error-message").all_inner_texts()
        assert messages.index(f"newer {marker}") < messages.index(f"older {marker}")
        assert "none in this process" not in page.locator("#recent-errors").inner_text()
    finally:
        context.close()


INJECT_OTHER_PROCESSES = """(marker) => {
  const error = (seconds, what) => ({time: Date.UTC(2026, 10, 30, 12, 0, seconds) / 1000,
    at: "2026-11-30T12:00:" + String(seconds).padStart(2, "0") + "+00:00", logger: "sse.test",
    level: "ERROR", message: what + " " + marker, process: "other:1"});
  const figures = (process, streams, errors) => ({process, time: Date.now() / 1000, streams,
    by_kind: {}, errors});
  const channels = () => ({process: "other:1", time: Date.now() / 1000,
    channels: [{channel: "chat." + marker, events_per_s: 50, streams: 5}]});
  const send = () => {
    for (const handler of window.pageStream._handlers.metrics) {
      handler(figures("other:1", 3, [error(10, "newer"), error(0, "older")]));
      handler(figures("other:2", 2, []));
    }
    for (const handler of window.pageStream._handlers.channels) handler(channels());
  };
  send();
  setInterval(send, 1000);
}"""
