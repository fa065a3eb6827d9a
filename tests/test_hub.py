"""The fan-out hub on its own, with watchers that record what they are sent:
seq order across nodes, joined writes, and forgetting quiet lots."""
import asyncio
import errno
import socket

import orjson
import pytest

from helpers import server_frames
from server import hub as hubmod
from server.events import announce_counts, fan_out
from server.hub import Hub

pytestmark = pytest.mark.gen_test(timeout=10)


class Recorder:
    def __init__(self):
        self.writes: list[bytes] = []

    direct = None  # everything goes through push

    def push(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def frames(self) -> list[dict]:
        return parse_frames(b"".join(self.writes))


def parse_frames(data: bytes) -> list[dict]:
    """Split written bytes back into the JSON of each frame."""
    return [orjson.loads(payload) for _, payload in server_frames(data)]


def bid(seq: int, lot: str = "L") -> dict:
    return {"type": "bid", "lot": lot, "auction": "A", "seq": seq, "price": 100 * seq, "bidder": "张*",
            "bid_count": seq, "next_min": 100 * seq + 10, "end_at": 1_800_000_000_000, "kind": "bid", "paddle": 1,
            "reserve_met": True, "at": 1_700_000_000_000, "user": f"u{seq % 2}", "previous_leader": f"u{(seq + 1) % 2}" if seq > 1 else ""}


def deliver(hub: Hub, event: dict) -> None:
    fan_out(hub, event, 1_700_000_000_000)


async def let_rounds_run():
    await asyncio.sleep(0.05)


async def test_events_that_arrive_out_of_order_are_delivered_in_seq_order():
    hub, watcher = Hub("n1"), Recorder()
    hub.watch_lot(watcher, "L", 0)
    for seq in (1, 3, 2, 4):
        deliver(hub, bid(seq))
    await let_rounds_run()
    assert [f["seq"] for f in watcher.frames()] == [1, 2, 3, 4]


async def test_a_gap_that_never_fills_is_given_up_after_a_moment():
    hub, watcher = Hub("n1"), Recorder()
    hub.watch_lot(watcher, "L", 0)
    deliver(hub, bid(1))
    deliver(hub, bid(3))
    await asyncio.sleep(hubmod.GAP_WAIT_S + 0.1)
    assert [f["seq"] for f in watcher.frames()] == [1, 3]  # the client sees the gap and asks for a snapshot


async def test_frames_queued_together_go_out_in_one_write_and_skip_what_a_snapshot_covers():
    hub, old, new = Hub("n1"), Recorder(), Recorder()
    hub.watch_lot(old, "L", 0)
    deliver(hub, bid(1))
    deliver(hub, bid(2))
    assert hub.watch_lot(new, "L", 2) == []  # its snapshot already holds 1 and 2
    await let_rounds_run()
    assert len(old.writes) == 1 and [f["seq"] for f in old.frames()] == [1, 2]
    assert new.writes == []


async def test_the_previous_leader_is_told_on_each_of_their_sockets():
    hub, phone, laptop = Hub("n1"), Recorder(), Recorder()
    hub.add_user(phone, "u1")
    hub.add_user(laptop, "u1")
    deliver(hub, bid(1))  # u1 leads
    deliver(hub, bid(2))  # u0 outbids u1
    for sock in (phone, laptop):
        assert [f for f in sock.frames() if f["type"] == "outbid"] == [{"type": "outbid", "lot": "L", "price": 200, "seq": 2}]


async def test_a_lot_nobody_watches_is_forgotten_once_quiet_and_resumes_with_a_snapshot():
    hub, watcher = Hub("n1"), Recorder()
    hub.watch_lot(watcher, "L", 0)
    deliver(hub, bid(1))
    await let_rounds_run()
    hub.forget(watcher, ["L"], [])
    announce_counts(hub)
    assert "L" in hub.rooms and hub.can_resume("L", 0)
    hub.rooms["L"].active_at -= hubmod.IDLE_ROOM_S + 1
    announce_counts(hub)
    assert "L" not in hub.rooms and not hub.can_resume("L", 0)


async def test_a_frame_that_arrives_mid_round_joins_the_writes_ahead_and_reaches_the_others_next_round(monkeypatch):
    monkeypatch.setattr(hubmod, "CHUNK", 2)
    monkeypatch.setattr(hubmod, "MAX_YIELDS", 0)  # a chunk a turn, as the test steps them
    hub, watchers = Hub("n1"), [Recorder() for _ in range(5)]
    for watcher in watchers:
        hub.watch_lot(watcher, "L", 0)
    deliver(hub, bid(1))
    await asyncio.sleep(0)  # the round has written to the first chunk of watchers
    deliver(hub, bid(2))
    await let_rounds_run()
    first, rest = watchers[:2], watchers[2:]
    assert all(len(w.writes) == 2 and [f["seq"] for f in w.frames()] == [1, 2] for w in first)
    assert all(len(w.writes) == 1 and [f["seq"] for f in w.frames()] == [1, 2] for w in rest)
    assert hub.rooms["L"].log == [] and not hub.rooms["L"].writing


async def test_a_watcher_that_subscribes_mid_round_gets_each_bid_once(monkeypatch):
    monkeypatch.setattr(hubmod, "CHUNK", 1)
    monkeypatch.setattr(hubmod, "MAX_YIELDS", 0)  # a chunk a turn, as the test steps them
    hub, early, late = Hub("n1"), [Recorder() for _ in range(3)], Recorder()
    for watcher in early:
        hub.watch_lot(watcher, "L", 0)
    deliver(hub, bid(1))
    await asyncio.sleep(0)
    late.writes += hub.watch_lot(late, "L", 0)  # a snapshot from before bid 1: it is replayed
    deliver(hub, bid(2))
    await let_rounds_run()
    for watcher in [*early, late]:
        assert [f["seq"] for f in watcher.frames()] == [1, 2]


async def test_watcher_counts_go_out_with_the_lots_frames():
    hub, watcher = Hub("n1"), Recorder()
    hub.watch_lot(watcher, "L", 0)
    announce_counts(hub)
    deliver(hub, bid(1))
    await let_rounds_run()
    assert len(watcher.writes) == 1
    assert [f["type"] for f in watcher.frames()] == ["watchers", "bid"]


class Broken(Recorder):
    def push(self, data: bytes) -> None:
        raise RuntimeError("a bug in one watcher")


async def test_a_watcher_that_fails_unexpectedly_does_not_silence_the_lot():
    hub, broken, watcher = Hub("n1"), Broken(), Recorder()
    hub.watch_lot(broken, "L", 0)
    hub.watch_lot(watcher, "L", 0)
    deliver(hub, bid(1))
    await let_rounds_run()
    deliver(hub, bid(2))
    await let_rounds_run()
    assert [f["seq"] for f in watcher.frames()] == [1, 2]


class SocketWatcher:
    """A watcher on a real socket pair, queueing what the socket does not
    take at once the way a Tornado stream does."""

    def __init__(self):
        self.sock, self.peer = socket.socketpair()
        self.sock.setblocking(False)
        self.peer.setblocking(False)
        self.queued = b""

    @property
    def direct(self):
        return None if self.queued else self.sock

    def push(self, data) -> None:
        data = bytes(data)
        if not self.queued:
            try:
                data = data[self.sock.send(data):]
            except BlockingIOError:
                pass
        self.queued += data

    def fill(self) -> None:
        """Fill the socket's buffers, as a client that stopped reading would."""
        try:
            while True:
                self.sock.send(b"\x00" * 65536)
        except BlockingIOError:
            pass

    def drain(self, skip: int = 0) -> bytes:
        """Read everything (writing out the queue as room appears), minus the first `skip` bytes."""
        got = b""
        while True:
            try:
                chunk = self.peer.recv(1 << 20)
            except BlockingIOError:
                if not self.queued:
                    return got[skip:]
                self.queued = self.queued[self.sock.send(self.queued):]
                continue
            got += chunk


def native_loop():
    """The native send loop, which `make test` builds: a test of it fails, never skips, without it."""
    assert hubmod.native_send_all is not None, "server/_fanout is not built: run scripts/build-native (make test does)"
    return hubmod.native_send_all


@pytest.mark.parametrize("writer", ["python", "native"])
async def test_frames_reach_real_sockets_whole_and_in_order_also_behind_a_full_buffer(monkeypatch, writer):
    monkeypatch.setattr(hubmod, "native_send_all", native_loop() if writer == "native" else None)
    hub, quick, stalled = Hub("n1"), SocketWatcher(), SocketWatcher()
    for watcher in (quick, stalled):
        hub.watch_lot(watcher, "L", 0)
    stalled.fill()  # the native write finds it full: the frames queue behind, in order
    for seq in range(1, 6):
        deliver(hub, bid(seq))
        await asyncio.sleep(0)
    await let_rounds_run()
    assert [f["seq"] for f in parse_frames(quick.drain())] == [1, 2, 3, 4, 5]
    raw = stalled.drain()
    assert [f["seq"] for f in parse_frames(raw[raw.index(b"\x81"):])] == [1, 2, 3, 4, 5]


def test_the_native_helper_reports_the_sockets_that_did_not_take_everything():
    send_all = native_loop()
    ok, full, closed = SocketWatcher(), SocketWatcher(), SocketWatcher()
    full.fill()
    closed.sock.close()  # its number may belong to a newer socket by now: never written to
    data = b"\x81\x05hello"
    failed = send_all([ok.sock, full.sock, closed.sock], data)
    assert failed == [(1, -errno.EAGAIN), (2, -errno.EBADF)]
    assert ok.drain() == data
    with pytest.raises(AttributeError):
        send_all([3], data)  # a number is not a socket: the caller's bug, said at once


async def test_a_socket_watching_a_lot_and_its_session_gets_each_event_once():
    hub, both, session_only = Hub("n1"), Recorder(), Recorder()
    hub.watch_lot(both, "L", 0)
    for watcher in (both, session_only):
        hub.watch_auction(watcher, "A")
    deliver(hub, bid(1))
    deliver(hub, {"type": "status", "lot": "L", "auction": "A", "status": "sold", "seq": 1, "deal_price": 100,
                  "end_at": 1_800_000_000_000})
    await let_rounds_run()
    assert [(f["type"], f.get("summary")) for f in both.frames()] == [("bid", None), ("status", None)]
    assert [(f["type"], f.get("summary")) for f in session_only.frames()] == [("bid", True), ("status", None)]


class Counted(Recorder):
    """A watcher that only counts what it is written (thousands of them)."""
    writes_total = 0

    def push(self, data: bytes) -> None:
        Counted.writes_total += 1


async def a_bid(work: hubmod.BidWork, awaits: int = 3) -> int:
    """A bid's decision as the hub sees it: in flight across a few turns of
    the loop (the conditional write, the insert, the publish); returns how
    many watchers were written meanwhile."""
    before = Counted.writes_total
    with work:
        for _ in range(awaits):
            await asyncio.sleep(0)
    return Counted.writes_total - before


async def a_round_under_way(work: hubmod.BidWork, watchers: int) -> Hub:
    hub = Hub("n1", work)
    for watcher in [Counted() for _ in range(watchers)]:
        hub.watch_lot(watcher, "L", 0)
    Counted.writes_total = 0
    deliver(hub, bid(1))
    while Counted.writes_total == 0:  # the loop has nothing else to do: the round starts
        await asyncio.sleep(0.0001)
    return hub


async def test_a_bid_is_decided_while_a_round_over_thousands_of_sockets_is_in_progress():
    work, watchers = hubmod.BidWork(), 8 * hubmod.CHUNK
    await a_round_under_way(work, watchers)
    assert 0 < Counted.writes_total < watchers
    written_meanwhile = await a_bid(work)
    assert written_meanwhile <= hubmod.CHUNK, "the bid waited behind more than the chunk already scheduled"
    assert Counted.writes_total < watchers  # decided mid-round
    await asyncio.sleep(0.05)
    assert Counted.writes_total == watchers  # and the round went on to every watcher


async def test_other_ready_work_goes_before_a_chunk_even_without_the_bid_gate():
    await a_round_under_way(hubmod.BidWork(), 8 * hubmod.CHUNK)
    assert await a_bid(hubmod.BidWork()) <= hubmod.CHUNK  # a gate the hub does not know: the yields alone


async def test_without_either_a_bid_waits_a_chunk_at_each_turn_of_the_loop(monkeypatch):
    """What the rounds did before bids went first."""
    monkeypatch.setattr(hubmod, "MAX_YIELDS", 0)
    await a_round_under_way(hubmod.BidWork(), 8 * hubmod.CHUNK)
    assert await a_bid(hubmod.BidWork()) >= 3 * hubmod.CHUNK


async def test_rounds_still_progress_under_a_stream_of_bids():
    work = hubmod.BidWork()
    hub, watchers = Hub("n1", work), [Counted() for _ in range(4 * hubmod.CHUNK)]
    for watcher in watchers:
        hub.watch_lot(watcher, "L", 0)
    Counted.writes_total = 0
    work.__enter__()  # a bid always in flight
    try:
        deliver(hub, bid(1))
        await asyncio.sleep(5 * hubmod.MAX_DEFER_S + 0.05)
        assert Counted.writes_total == len(watchers)
    finally:
        work.__exit__(None, None, None)


def status(name: str, seq: int) -> dict:
    return {"type": "status", "lot": "L", "auction": "A", "status": name, "seq": seq, "deal_price": 0,
            "end_at": 1_800_000_000_000}


async def test_a_status_announced_twice_is_written_once_and_a_change_of_it_stops_a_replay():
    hub, watcher, session = Hub("n1"), Recorder(), Recorder()
    hub.watch_lot(watcher, "L", 0)
    hub.watch_auction(session, "A")
    deliver(hub, bid(1))
    assert hub.can_resume("L", 1)
    for _ in range(2):  # a close completed on two paths at once
        deliver(hub, status("sold", 1))
    await let_rounds_run()
    assert [f["type"] for f in watcher.frames()] == ["bid", "status"]
    assert [f["type"] for f in session.frames()] == ["bid", "status"]
    assert not hub.can_resume("L", 1)  # a client away since seq 1 missed the close: it needs a snapshot
