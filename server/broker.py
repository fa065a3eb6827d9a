"""Publish/subscribe between server nodes: every bid event reaches every node
through here (docs/architecture.md, "Broker")."""
import asyncio
import logging
from contextlib import asynccontextmanager, suppress
from typing import AsyncIterator

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_LOST = (RedisError, OSError)


class Messages(asyncio.Queue):
    """A subscriber's queue, iterated for its messages (qsize() is its
    backlog). Not an async generator: leaving leaves nothing to finalise."""

    def __aiter__(self) -> "Messages":
        return self

    def __anext__(self):
        return self.get()


class Broker:
    """The interface, and the fan-out both backends share: each subscriber has
    an unbounded queue, so one that stops reading holds up nobody."""

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self._queues: dict[bytes, set[Messages]] = {}

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def ping(self) -> bool:
        return True

    async def publish(self, channel: str, data: bytes) -> None:
        raise NotImplementedError

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Messages]:
        key = self._key(channel)
        messages = Messages()
        queues = self._queues.setdefault(key, set())
        queues.add(messages)
        try:
            await self._sync(key)
            yield messages
        finally:
            queues.discard(messages)
            if not queues:
                del self._queues[key]
                await self._sync(key)

    def _key(self, channel: str) -> bytes:
        return (self._prefix + channel).encode()

    async def _sync(self, key: bytes) -> None:
        """Called on every entry and on the last exit, for a backend to keep a
        server-side subscription in step."""


class MemoryBroker(Broker):
    """One process: publishing is handing the message to the local queues."""

    async def publish(self, channel: str, data: bytes) -> None:
        for queue in self._queues.get(self._key(channel), ()):
            queue.put_nowait(data)


class RedisBroker(Broker):
    """One pub/sub connection per process, read by one task that hands each message
    to the local queues of its channel: many local subscribers, one Redis subscription."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(prefix)
        self._redis = redis.from_url(url, client_name=prefix + "pub")
        # RESP2: RESP3 sends each message through push handling, measurably slower. No retry:
        # redis-py would reconnect in place behind the reader's back; the reader replaces it.
        self._sub = redis.from_url(url, client_name=prefix + "sub", protocol=2, retry=Retry(NoBackoff(), 0, ()))
        self._pubsub = None  # None while the connection is being replaced
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()  # one writer at a time on the pub/sub connection
        self._requested: set[bytes] = set()  # channels SUBSCRIBEd on the current connection
        self._pending: dict[bytes, list] = {}  # channel -> [SUBSCRIBE replies due, future set at 0]

    async def connect(self) -> None:
        await self._open()
        self._reader = asyncio.create_task(self._read())

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader])
            self._reader = None
        await self._sub.aclose()
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return await self._redis.ping()
        except _LOST:
            return False

    async def publish(self, channel: str, data: bytes) -> None:
        await self._redis.publish(self._key(channel), data)

    async def _sync(self, key: bytes) -> None:
        """Compares wanted with requested, so a subscriber cancelled half-way leaves
        nothing wrong; then waits until Redis has confirmed every SUBSCRIBE of the key."""
        async with self._lock:
            wanted = key in self._queues
            if wanted and self._reader is None:  # else it would wait for a reply that never comes
                raise RuntimeError("RedisBroker.subscribe() needs connect() first")
            if wanted != (key in self._requested):
                if wanted:
                    self._requested.add(key)
                    self._pending.setdefault(key, [0, asyncio.get_running_loop().create_future()])[0] += 1
                else:
                    self._requested.discard(key)
                if self._pubsub is not None:  # else the reader is replacing it
                    with suppress(*_LOST):  # the reader meets the failure too, and resubscribes
                        await (self._pubsub.subscribe if wanted else self._pubsub.unsubscribe)(key)
            pending = self._pending.get(key)
        if wanted and pending is not None:
            await asyncio.shield(pending[1])

    async def _open(self) -> None:
        """Subscribed to every channel wanted now, and connected even with none: a PubSub
        has nothing to read before its first SUBSCRIBE, and the reader starts at once."""
        async with self._lock:
            self._pubsub = pubsub = self._sub.pubsub()
            self._requested = set(self._queues)
            # One reply due per channel, from the SUBSCRIBE below; waiters keep their futures.
            old, loop = self._pending, asyncio.get_running_loop()
            self._pending = {key: [1, old[key][1] if key in old else loop.create_future()] for key in self._requested}
            try:
                await pubsub.connect()
                if self._requested:
                    await pubsub.subscribe(*self._requested)
            except BaseException:
                self._pubsub = None
                await pubsub.aclose()
                raise

    async def _read(self) -> None:
        """The only reader of the pub/sub connection; it closes it whenever it stops reading,
        and replaces it when it was lost (what is published meanwhile is lost too)."""
        delay = 0.1
        while True:
            try:
                if self._pubsub is None:
                    await self._open()
                    log.info("Redis pub/sub reconnected; %d channels resubscribed", len(self._requested))
                    delay = 0.1
                while True:
                    message = await self._pubsub.get_message(timeout=None)
                    if message["type"] == "message":
                        for queue in self._queues.get(message["channel"], ()):
                            queue.put_nowait(message["data"])
                    elif message["type"] == "subscribe":
                        pending = self._pending.get(message["channel"])
                        if pending is not None:
                            pending[0] -= 1
                            if pending[0] == 0:
                                del self._pending[message["channel"]]
                                pending[1].set_result(None)
            except _LOST as exc:
                log.warning("Redis pub/sub connection failed (%s); reconnecting in %.1fs", exc, delay)
            finally:  # lost, or cancelled by disconnect()
                async with self._lock:
                    if self._pubsub is not None:
                        await self._pubsub.aclose()
                        self._pubsub = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def create_broker(redis_url: str, prefix: str) -> Broker:
    """No Redis URL means a single process, where memory is enough; redis-py
    refuses a URL that is not redis://, rediss:// or unix://."""
    return RedisBroker(redis_url, prefix) if redis_url else MemoryBroker()
