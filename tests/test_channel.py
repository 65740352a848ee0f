"""yaat_testing.channel: order, deadlines on one timer, and waiters that never get stuck."""

from __future__ import annotations

import asyncio

import pytest

from yaat_testing.channel import Alarm, Channel, ChannelTimeout


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


async def test_a_waiter_cancelled_after_its_wake_up_leaves_the_item_to_the_others() -> None:
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
    assert channel.alarm.timer is not None
    assert channel.alarm.timer.when() == pytest.approx(loop.time() + 0.02, abs=0.01)
    with pytest.raises(ChannelTimeout):
        await early
    assert not late.done()
    assert channel.alarm.timer is not None  # re-armed for the later deadline
    with pytest.raises(ChannelTimeout):
        await late
    assert channel.alarm.timer is None


async def test_close_drops_the_timer() -> None:
    loop = asyncio.get_running_loop()
    channel = Channel(loop)
    waiter = asyncio.create_task(channel.get(loop.time() + 10))
    await asyncio.sleep(0)
    channel.put("x")
    assert await waiter == "x"
    assert channel.alarm.timer is not None
    channel.close()
    assert channel.alarm.timer is None


async def test_wake_all_wakes_every_waiter_to_look_again() -> None:
    channel = Channel(asyncio.get_running_loop())
    waits = [channel.wait(None) for _ in range(3)]
    await asyncio.sleep(0)
    channel.wake_all()
    await asyncio.gather(*waits)
    assert channel.waiters == []


async def test_channels_that_share_an_alarm_share_its_one_timer() -> None:
    loop = asyncio.get_running_loop()
    alarm = Alarm(loop)
    first, second = Channel(loop, alarm), Channel(loop, alarm)
    late = asyncio.create_task(first.get(loop.time() + 0.2))
    await asyncio.sleep(0)
    timer = alarm.timer
    early = asyncio.create_task(second.get(loop.time() + 0.02))
    await asyncio.sleep(0)
    assert alarm.timer is not timer  # re-armed, once, for the earlier deadline
    assert alarm.timer is not None
    assert alarm.timer.when() == pytest.approx(loop.time() + 0.02, abs=0.01)
    with pytest.raises(ChannelTimeout):
        await early
    assert not late.done()
    with pytest.raises(ChannelTimeout):
        await late
    assert alarm.timer is None
    assert alarm.channels == set()


async def test_a_closed_channel_leaves_a_shared_alarm_armed_for_the_others() -> None:
    loop = asyncio.get_running_loop()
    alarm = Alarm(loop)
    first, second = Channel(loop, alarm), Channel(loop, alarm)
    waiter = asyncio.create_task(first.get(loop.time() + 10))
    other = asyncio.create_task(second.get(loop.time() + 10))
    await asyncio.sleep(0)
    first.put("x")
    assert await waiter == "x"
    first.close()
    assert alarm.channels == {second}
    assert alarm.timer is not None
    second.put("y")
    assert await other == "y"
    alarm.close()
    assert alarm.timer is None


async def test_waits_cancelled_before_any_wake_up_do_not_pile_up() -> None:
    channel = Channel(asyncio.get_running_loop())
    for _ in range(200):
        task = asyncio.create_task(channel.get(None))
        await asyncio.sleep(0)  # it waits
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert 0 < len(channel.waiters) <= 16
    channel.put("still served")
    assert await channel.get(None) == "still served"


async def test_awaited_counts_only_waits_still_waiting() -> None:
    channel = Channel(asyncio.get_running_loop())
    assert not channel.awaited()
    getter = asyncio.create_task(channel.get(None))
    await asyncio.sleep(0)
    assert channel.awaited()
    getter.cancel()  # a receive bounded by wait_for that timed out, say
    with pytest.raises(asyncio.CancelledError):
        await getter
    assert channel.waiters  # its future stays until the next wake-up ...
    assert not channel.awaited()  # ... and nobody waits
