from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import sse
from sse import runtime
from sse.channels import registry
from sse.channels.patterns import ChannelRegistry
from sse.channels.registry import (
    ChannelNotFound,
    check_access,
    find_pattern,
    register_channel,
    validate_channel_name,
)


@pytest.fixture(autouse=True)
def isolated_registry(no_rules: None) -> None:
    """Every test here starts from an empty registry, restored after it."""


def user(pk: int = 1, *, authenticated: bool = True, staff: bool = False) -> Any:
    return SimpleNamespace(pk=pk, is_authenticated=authenticated, is_staff=staff)


@pytest.mark.parametrize("name", ["a", "A", "0", "a.b", "a_b-c", "x" * 80, "...", "-"])
def test_valid_channel_names(name: str) -> None:
    assert validate_channel_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 81, "a b", "a/b", "\u00e9", "a\n", "a\x00", None, 1, ["a"]])
def test_invalid_channel_names(name: object) -> None:
    with pytest.raises(ValueError, match="invalid channel name"):
        validate_channel_name(name)


async def test_no_rule_means_nobody_reads() -> None:
    assert find_pattern("anything") is None
    assert await check_access(user(staff=True), "anything") is False


async def test_sync_and_async_rules() -> None:
    @sse.channel("sync.{pk}")
    def own(u: Any, pk: str) -> bool:
        return str(u.pk) == pk

    @sse.channel("async")
    async def staff_only(u: Any) -> bool:
        return bool(u.is_staff)

    assert await check_access(user(1), "sync.1") is True
    assert await check_access(user(2), "sync.1") is False
    assert await check_access(user(staff=True), "async") is True
    assert await check_access(user(), "async") is False


async def test_sync_rule_returning_an_awaitable_is_awaited() -> None:
    async def later(u: Any) -> bool:
        return False

    register_channel("wrapped", lambda u: later(u))
    assert await check_access(user(), "wrapped") is False


async def test_rule_result_is_made_a_bool() -> None:
    register_channel("truthy", lambda u: "yes")
    register_channel("falsy", lambda u: 0)
    assert await check_access(user(), "truthy") is True
    assert await check_access(user(), "falsy") is False


async def test_channel_not_found_propagates() -> None:
    @sse.channel("room.{slug}")
    def room(u: Any, slug: str) -> bool:
        raise ChannelNotFound(f"no room {slug}")

    with pytest.raises(ChannelNotFound, match="no room x"):
        await check_access(user(), "room.x")


def test_placeholders_match_one_segment() -> None:
    register_channel("a.{x}", lambda u, x: True)
    register_channel("a.{x}.b.{y}", lambda u, x, y: True)
    assert find_pattern("a.1")[1] == {"x": "1"}  # type: ignore[index]
    assert find_pattern("a.1.b.2")[1] == {"x": "1", "y": "2"}  # type: ignore[index]
    assert find_pattern("a.1.2") is None  # a placeholder never spans a dot
    assert find_pattern("a.") is None
    assert find_pattern("xa.1") is None
    assert find_pattern("a.1x.b") is None


def test_literal_beats_placeholder_then_longest_wins() -> None:
    register_channel("room.{slug}", lambda u, slug: True)
    register_channel("room.staff", lambda u: False)
    register_channel("{a}.{b}", lambda u, a, b: True)
    assert find_pattern("room.staff")[0].pattern == "room.staff"  # type: ignore[index]
    assert find_pattern("room.lobby")[0].pattern == "room.{slug}"  # type: ignore[index]
    assert find_pattern("x.y")[0].pattern == "{a}.{b}"  # type: ignore[index]


def test_dots_in_literal_parts_are_literal() -> None:
    register_channel("a.b", lambda u: True)
    assert find_pattern("aXb") is None


def test_ephemeral_flag() -> None:
    register_channel("live", lambda u: True, ephemeral=True)
    register_channel("kept", lambda u: True)
    assert registry.is_ephemeral("live") is True
    assert registry.is_ephemeral("kept") is False
    assert registry.is_ephemeral("unknown") is False


@pytest.mark.parametrize("pattern", ["", "a b", "a/{x}", "x" * 81, None])
def test_bad_patterns(pattern: object) -> None:
    with pytest.raises(ValueError):
        register_channel(pattern, lambda u: True)  # type: ignore[arg-type]


def test_rule_must_be_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        register_channel("x", True)  # type: ignore[arg-type]


def test_registering_again_replaces_and_unregister_removes() -> None:
    register_channel("x", lambda u: False)
    register_channel("x", lambda u: True)
    assert len(runtime.get().part(ChannelRegistry)) == 1
    registry.unregister_channel("x")
    registry.unregister_channel("x")
    assert find_pattern("x") is None


def test_decorator_returns_the_rule() -> None:
    def rule(u: Any) -> bool:
        return True

    assert sse.channel("deco")(rule) is rule


def test_the_test_project_registers_its_channels(isolated_registry: None) -> None:
    # Registered from AppConfig.ready() of tests/sse_app (restored by the fixture after).
    from importlib import reload

    from tests.sse_app import channels

    reload(channels)
    registered = set(runtime.get().part(ChannelRegistry).names())
    assert {"public", "user.{pk}", "staff", "room.{slug}", "scratch.{name}"} <= registered
