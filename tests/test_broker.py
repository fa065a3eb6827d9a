"""The broker contract, run against every backend, plus what only Redis has:
nodes sharing a prefix, one Redis subscription per channel, recovery."""
import asyncio
import logging
from uuid import uuid4

import pytest
import redis.asyncio as redis

from server.broker import MemoryBroker, RedisBroker, create_broker

REDIS_URL = "redis://127.0.0.1:6379/0"
_BUSY_FOR_150_MS = """
local function now() local t = redis.call('TIME') return t[1] * 1000000 + t[2] end
local start = now()
while now() - start < 150000 do end
"""


@pytest.fixture
def prefix():
    """Pub/sub channels are global to a Redis: each test gets its own."""
    return f"test-{uuid4().hex[:8]}:"


def _open(io_loop, broker):
    io_loop.run_sync(broker.connect)
    return broker


def _close(io_loop, *brokers):
    async def close_all():
        for broker in brokers:
            await broker.disconnect()
        return asyncio.all_tasks() - {asyncio.current_task()}

    assert io_loop.run_sync(close_all) == set(), "tasks left running"


@pytest.fixture(params=["memory", "redis"])
def broker(request, io_loop, prefix):
    broker = _open(io_loop, MemoryBroker() if request.param == "memory" else RedisBroker(REDIS_URL, prefix))
    yield broker
    _close(io_loop, broker)


@pytest.fixture
def redis_broker(io_loop, prefix):
    broker = _open(io_loop, RedisBroker(REDIS_URL, prefix))
    yield broker
    _close(io_loop, broker)


@pytest.fixture
def outside(io_loop):
    """A plain client, to look at Redis from the outside."""
    client = redis.from_url(REDIS_URL)
    yield client
    io_loop.run_sync(client.aclose)


async def _next(messages, timeout=2.0):
    return await asyncio.wait_for(anext(messages), timeout)


async def _eventually(check, timeout=2.0):
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.01)


async def _numsub(outside, channel):
    [(_, count)] = await outside.pubsub_numsub(channel)
    return count


@pytest.mark.gen_test(timeout=10)
async def test_a_subscriber_receives_what_is_published_after_it_joined_in_order(broker):
    await broker.publish("lot", b"before")
    async with broker.subscribe("lot") as messages:
        for i in range(1000):
            await broker.publish("lot", b"%d" % i)
        assert [await _next(messages) for _ in range(1000)] == [b"%d" % i for i in range(1000)]


@pytest.mark.gen_test(timeout=10)
async def test_every_subscriber_of_a_channel_receives(broker):
    async with broker.subscribe("lot") as first, broker.subscribe("lot") as second:
        await broker.publish("lot", b"bid")
        assert await _next(first) == b"bid"
        assert await _next(second) == b"bid"


@pytest.mark.gen_test(timeout=10)
async def test_channels_are_isolated(broker):
    async with broker.subscribe("lot:a") as a, broker.subscribe("lot:b") as b:
        await broker.publish("lot:a", b"for a")
        await broker.publish("lot:b", b"for b")
        await broker.publish("lot:a", b"end a")
        assert [await _next(a), await _next(a)] == [b"for a", b"end a"]
        assert await _next(b) == b"for b"


@pytest.mark.gen_test(timeout=10)
async def test_nothing_is_delivered_after_leaving(broker):
    async with broker.subscribe("lot") as staying:
        async with broker.subscribe("lot") as leaving:
            pass
        await broker.publish("lot", b"after")
        assert await _next(staying) == b"after"
        with pytest.raises(TimeoutError):  # it would be there by now
            await _next(leaving, timeout=0.05)


@pytest.mark.gen_test(timeout=10)
async def test_ping_answers(broker):
    assert await broker.ping() is True


@pytest.mark.gen_test(timeout=10)
async def test_local_subscribers_share_one_redis_subscription(redis_broker, outside, prefix):
    async with redis_broker.subscribe("lot") as first:
        async with redis_broker.subscribe("lot"):
            assert await _numsub(outside, prefix + "lot") == 1
        await redis_broker.publish("lot", b"still here")
        assert await _next(first) == b"still here"
        assert await _numsub(outside, prefix + "lot") == 1

    async def gone():
        return await _numsub(outside, prefix + "lot") == 0

    await _eventually(gone)


@pytest.mark.gen_test(timeout=10)
async def test_subscribing_returns_once_redis_has_confirmed(redis_broker, outside):
    """With Redis busy for a moment, a subscription that did not wait for
    its confirmation would miss what is published right after it."""
    busy = asyncio.ensure_future(outside.eval(_BUSY_FOR_150_MS, 0))
    await asyncio.sleep(0.02)
    started = asyncio.get_running_loop().time()
    async with redis_broker.subscribe("lot"):
        waited = asyncio.get_running_loop().time() - started
    await busy
    assert waited > 0.1


@pytest.mark.gen_test(timeout=10)
async def test_a_subscriber_cancelled_while_joining_leaves_no_subscription(redis_broker, outside, prefix):
    joining = asyncio.ensure_future(redis_broker.subscribe("lot").__aenter__())
    await asyncio.sleep(0)  # let it start joining
    joining.cancel()
    await asyncio.wait([joining])
    async with redis_broker.subscribe("lot") as messages:
        await redis_broker.publish("lot", b"bid")
        assert await _next(messages) == b"bid"

    async def gone():
        return await _numsub(outside, prefix + "lot") == 0

    await _eventually(gone)


@pytest.mark.gen_test(timeout=10)
async def test_nodes_sharing_a_prefix_see_each_others_messages(redis_broker, prefix):
    other_node = RedisBroker(REDIS_URL, prefix)
    other_site = RedisBroker(REDIS_URL, f"test-{uuid4().hex[:8]}:")
    await other_node.connect()
    await other_site.connect()
    try:
        async with other_node.subscribe("lot") as node_messages, other_site.subscribe("lot") as site_messages:
            await redis_broker.publish("lot", b"from node 1")
            await other_site.publish("lot", b"own")
            assert await _next(node_messages) == b"from node 1"
            assert await _next(site_messages) == b"own"  # not b"from node 1"
    finally:
        await other_node.disconnect()
        await other_site.disconnect()


@pytest.mark.gen_test(timeout=10)
async def test_redis_broker_recovers_after_losing_its_connection(redis_broker, outside, prefix, caplog):
    async def subscriber_ids():
        return [c["id"] for c in await outside.client_list() if c["name"] == prefix + "sub"]

    async with redis_broker.subscribe("lot") as messages:
        await redis_broker.publish("lot", b"before")
        assert await _next(messages) == b"before"
        [killed] = await subscriber_ids()
        await outside.client_kill_filter(_id=killed)

        async def resubscribed():
            ids = await subscriber_ids()
            return ids and ids != [killed] and await _numsub(outside, prefix + "lot") == 1

        await _eventually(resubscribed)
        await redis_broker.publish("lot", b"after")
        assert await _next(messages) == b"after"
        assert len(await subscriber_ids()) == 1
    assert any(r.levelno == logging.WARNING and "reconnecting" in r.getMessage() for r in caplog.records)


@pytest.mark.gen_test(timeout=10)
async def test_disconnect_closes_the_redis_connections(outside, prefix):
    broker = RedisBroker(REDIS_URL, prefix)
    await broker.connect()
    async with broker.subscribe("lot"):
        await broker.publish("lot", b"bid")
    await broker.disconnect()

    async def closed():
        return not any(c["name"].startswith(prefix) for c in await outside.client_list())

    await _eventually(closed)


@pytest.mark.gen_test(timeout=10)
async def test_subscribing_to_an_unconnected_redis_broker_fails_at_once(prefix):
    broker = RedisBroker(REDIS_URL, prefix)
    with pytest.raises(RuntimeError):
        async with broker.subscribe("lot"):
            pass


def test_create_broker_picks_the_backend_by_url():
    assert type(create_broker("", "gavel:")) is MemoryBroker
    for url in ("redis://localhost:6379/0", "rediss://localhost:6380/0", "unix:///run/redis.sock"):
        assert type(create_broker(url, "gavel:")) is RedisBroker
    with pytest.raises(ValueError):
        create_broker("http://localhost:6379", "gavel:")
