"""yaat_testing.channel: order, deadlines on one timer, and waiters that never get stuck."""

from __future__ import annotations

import asyncio

import pytest

from yaat_testing.channel import Channel, ChannelTimeout


async def test_items_come_out_in_order_without_waiting_when_there() -> None:
    channel = Channel(asyncio.get_running_loop())
    for item in range(3):
        channel.put(item)
    assert [await channel.get(None) for _ in range(3)] == [0, 1, 2]


async def test_several_waiters_are_served_in_arrival_order() -> None:
    channel = Channel(asyncio.get_running_loop())
    first = asyncio.create_task(channel.get(None))
    second = asyncio.create_task(channel.get(None))
    await asyncio.sleep(0)
    channel.put("a")
    channel.put("b")
    assert await asyncio.gather(first, second) == ["a", "b"]


async def test_a_cancelled_waiter_passes_its_wake_up_on() -> None:
    channel = Channel(asyncio.get_running_loop())
    first = asyncio.create_task(channel.get(None))
    second = asyncio.create_task(channel.get(None))
    await asyncio.sleep(0)
    channel.put("only")  # wakes the first ...
    first.cancel()  # ... which is cancelled before it takes the item
    assert await second == "only"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_deadlines_share_one_timer_and_each_ends_on_time() -> None:
    loop = asyncio.get_running_loop()
    channel = Channel(loop)
    late = asyncio.create_task(channel.get(loop.time() + 0.2))
    early = asyncio.create_task(channel.get(loop.time() + 0.02))
    await asyncio.sleep(0)
    assert channel.timer is not None
    assert channel.timer.when() == pytest.approx(loop.time() + 0.02, abs=0.01)
    with pytest.raises(ChannelTimeout):
        await early
    assert not late.done()
    assert channel.timer is not None  # re-armed for the later deadline
    with pytest.raises(ChannelTimeout):
        await late
    assert channel.timer is None


async def test_close_drops_the_timer() -> None:
    loop = asyncio.get_running_loop()
    channel = Channel(loop)
    waiter = asyncio.create_task(channel.get(loop.time() + 10))
    await asyncio.sleep(0)
    channel.put("x")
    assert await waiter == "x"
    assert channel.timer is not None
    channel.close()
    assert channel.timer is None


async def test_wake_all_wakes_every_waiter_to_look_again() -> None:
    channel = Channel(asyncio.get_running_loop())
    waits = [asyncio.create_task(channel.wait(None)) for _ in range(3)]
    await asyncio.sleep(0)
    channel.wake_all()
    await asyncio.gather(*waits)
    assert channel.waiters == {}
