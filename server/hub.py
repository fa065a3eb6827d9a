"""The fan-out hub: this node's WebSocket watchers, by lot, session and user,
and the bytes it writes to them. It shapes nothing (handlers/messages.py
does, once per event per node) and decides nothing: it keeps each lot's
frames in `seq` order and writes the same bytes to every watcher.

A lot's watchers are written in rounds, a chunk at a time between turns of
the loop, so bids and their acks are decided between chunks. A frame that
arrives mid-round joins the writes still ahead, and the watchers already
passed get it at the start of the next round: a bid reaches the last
watcher one round after it arrives, however busy the lot (`_write_round`).

Bids go first: a bid's every `await` (the conditional write, the history
insert) returns to the loop, and a chunk of writes scheduled meanwhile
would make it wait. So while a bid is being decided on this node
(`BidWork`), a round holds its next chunk back until the bid is done, or
at most MAX_DEFER_S, so that rounds always progress under a stream of bids.

A watcher is anything with `push(bytes)`, which queues behind what it
holds, and `direct`: its socket while nothing is queued ahead of a new
frame, else None. A chunk's direct sockets are written by one native call
when server/_fanout is built.

Bids of a lot are written in `seq` order: one that arrives early (another
node published it first) waits briefly for the gap to fill. Each lot keeps
its recent bid frames, so a client that comes back with `since` gets what it
missed replayed. Each socket gets one frame per event, whatever it watches:
a session watcher that also watches the lot gets the lot's frame, not the
session's summary.
"""
import asyncio
import errno
import logging
import time
from collections import deque
from typing import NamedTuple

log = logging.getLogger("gavel.hub")

try:  # the native send loop (server/_fanout.c, built by scripts/build-native)
    from server._fanout import send_all as native_send_all
except ImportError:
    native_send_all = None

RETRY_ERRNOS = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ENOBUFS}

HISTORY = 256          # bid frames kept per lot for `subscribe … since`
GAP_WAIT_S = 0.2       # how long an early bid waits for the one before it
COUNT_TTL_S = 3.5      # a node whose watcher counts are older than this is gone
CHUNK = 256            # watchers written to before the loop takes a turn
MAX_DEFER_S = 0.005    # the longest a chunk waits for the bids in flight
MAX_YIELDS = 8         # the most turns a chunk lets other ready work go first
IDLE_ROOM_S = 600      # a lot nobody here watches, quiet this long, is forgotten (a later `since` gets a snapshot)


class BidWork:
    """When the rounds' chunks may run. Bids being decided on this node (the
    domain enters this around each decision: domain.deps.Deps.bid_work) go
    first: a chunk waits until none is in flight, MAX_DEFER_S at most. And a
    chunk waits its turn behind any other work the loop has ready (a bid's
    frame being read, a store's answer), up to MAX_YIELDS turns, so a bid
    never queues behind a chunk of writes at each of its steps. The loop's
    ready queue is asyncio's own (`_ready`, not public): where a loop has
    none, chunks simply run in turn."""

    def __init__(self):
        self.in_flight = 0
        self.waiting: list[tuple] = []
        self.timer: asyncio.TimerHandle | None = None
        self.scheduled = 0  # chunks in the loop's ready queue

    def __enter__(self) -> None:
        self.in_flight += 1

    def __exit__(self, *exc) -> None:
        self.in_flight -= 1
        if not self.in_flight and self.waiting:
            self._release()

    def after(self, fn, *args) -> None:
        """Call `fn(*args)` on a coming turn of the loop, when nothing comes first."""
        self._schedule(fn, args, 0)

    def _schedule(self, fn, args, yields: int, bids_first: bool = True) -> None:
        self.scheduled += 1
        asyncio.get_running_loop().call_soon(self._run, fn, args, yields, bids_first)

    def _run(self, fn, args, yields: int, bids_first: bool) -> None:
        self.scheduled -= 1
        if self.in_flight and bids_first:
            self.waiting.append((fn, args))
            if self.timer is None:
                self.timer = asyncio.get_running_loop().call_later(MAX_DEFER_S, self._release)
            return
        ready = getattr(asyncio.get_running_loop(), "_ready", ())
        if yields < MAX_YIELDS and len(ready) > self.scheduled:
            self._schedule(fn, args, yields + 1)  # other work first: behind it, in this turn's queue
            return
        fn(*args)

    def _release(self) -> None:
        if self.timer:
            self.timer.cancel()
            self.timer = None
        waiting, self.waiting = self.waiting, []
        for fn, args in waiting:  # waited enough: each runs on the next turn, without yielding again
            self._schedule(fn, args, MAX_YIELDS, bids_first=False)


class BidFrames(NamedTuple):
    """What the hub writes for one bid: the lot's frame, its session's summary,
    and notices to users (`(user id, frame)`: outbid, undone)."""
    lot: bytes
    summary: bytes
    auction_id: str
    notices: tuple = ()


class LotRoom:
    __slots__ = ("watchers", "ahead", "last_seq", "pending", "history", "gap_timer", "count_sent", "status", "log",
                 "log_base",
                 "writing", "active_at")

    def __init__(self):
        self.watchers: dict = {}          # watcher -> position in the log written to it so far
        self.ahead: dict = {}             # watcher -> seq its snapshot covers, when beyond last_seq
        self.last_seq = -1                # last bid seq delivered here (-1: none seen yet)
        self.pending: dict[int, BidFrames] = {}  # seq -> a bid that came before the one it follows
        self.history: deque = deque(maxlen=HISTORY)  # (seq, frame)
        self.gap_timer: asyncio.TimerHandle | None = None  # gives up waiting for a missing seq
        self.count_sent = -1
        self.status: tuple[str, int] = ("", -1)  # the last status written here, and the lot's seq then
        self.log: list[tuple[int, bytes]] = []  # (seq, frame) not yet written to every watcher; seq 0: no bid
        self.log_base = 0                 # position of log[0]
        self.writing = False              # a round of writes is under way
        self.active_at = time.monotonic()  # last bid or last watcher leaving

    @property
    def head(self) -> int:
        return self.log_base + len(self.log)


class Hub:
    def __init__(self, node_id: str, bid_work: BidWork | None = None):
        self.node_id = node_id
        self.bid_work = bid_work or BidWork()
        self.rooms: dict[str, LotRoom] = {}
        self.auctions: dict[str, set] = {}
        self.users: dict[str, set] = {}
        self.coupon_watchers: set = set()  # sockets watching the claim centre (server/coupon_feed.py)
        self.counts: dict[str, dict[str, tuple[int, float]]] = {}  # lot -> node -> (count, seen at)
        self.frames_pushed = 0  # bid frames handed to watchers, counted per event (read by /metrics)

    # --- subscriptions -------------------------------------------------
    def room(self, lot_id: str) -> LotRoom:
        room = self.rooms.get(lot_id)
        if room is None:
            room = self.rooms[lot_id] = LotRoom()
        return room

    def watch_lot(self, watcher, lot_id: str, covered_seq: int) -> list[bytes]:
        """Start delivering a lot's events to `watcher`, whose snapshot (or
        replay) covers bids up to `covered_seq`. Returns the frames it still
        needs from the history (bids delivered here after that seq)."""
        room = self.room(lot_id)
        if room.last_seq < 0:
            room.last_seq = covered_seq
        missed = [frame for seq, frame in room.history if seq > covered_seq]
        room.watchers[watcher] = room.head
        if covered_seq > room.last_seq:
            room.ahead[watcher] = covered_seq  # its snapshot holds bids not delivered here yet
        return missed

    def can_resume(self, lot_id: str, since: int) -> bool:
        """Whether a replay after `since` would miss nothing: every bid after it
        is still held here, and the lot's status has not changed since (a
        status takes no seq: a client away then gets a snapshot instead)."""
        room = self.rooms.get(lot_id)
        if room is None or room.last_seq < since or room.pending or room.status[1] >= since:
            return False
        return room.last_seq == since or bool(room.history) and room.history[0][0] <= since + 1

    def unwatch_lot(self, watcher, lot_id: str) -> None:
        room = self.rooms.get(lot_id)
        if room:
            room.watchers.pop(watcher, None)
            room.ahead.pop(watcher, None)
            room.active_at = time.monotonic()

    def watch_auction(self, watcher, auction_id: str) -> None:
        self.auctions.setdefault(auction_id, set()).add(watcher)

    def unwatch_auction(self, watcher, auction_id: str) -> None:
        watchers = self.auctions.get(auction_id)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self.auctions[auction_id]

    def watch_coupons(self, watcher) -> None:
        self.coupon_watchers.add(watcher)

    def unwatch_coupons(self, watcher) -> None:
        self.coupon_watchers.discard(watcher)

    def add_user(self, watcher, user_id: str) -> None:
        self.users.setdefault(user_id, set()).add(watcher)

    def forget(self, watcher, lots, auctions, user_id: str = "") -> None:
        for lot_id in lots:
            self.unwatch_lot(watcher, lot_id)
        for auction_id in auctions:
            self.unwatch_auction(watcher, auction_id)
        self.coupon_watchers.discard(watcher)
        if user_id and user_id in self.users:
            self.users[user_id].discard(watcher)
            if not self.users[user_id]:
                del self.users[user_id]

    def watcher_count(self, lot_id: str) -> int:
        fresh = time.monotonic() - COUNT_TTL_S
        here = len(self.rooms[lot_id].watchers) if lot_id in self.rooms else 0
        others = sum(n for node, (n, at) in self.counts.get(lot_id, {}).items() if node != self.node_id and at > fresh)
        return here + others

    def sockets_of(self, user_id: str) -> set:
        return self.users.get(user_id, set())

    # --- delivery: bytes in, written out ----------------------------------
    def bid(self, lot_id: str, seq: int, frames: BidFrames) -> None:
        """A bid's frames, written in `seq` order (an early one waits for its gap)."""
        room = self.room(lot_id)
        room.active_at = time.monotonic()
        if room.last_seq < 0:
            room.last_seq = seq - 1
        if seq <= room.last_seq:
            return  # already delivered (a replayed or duplicate publish)
        if seq > room.last_seq + 1:
            room.pending[seq] = frames
            if room.gap_timer is None:
                room.gap_timer = asyncio.get_running_loop().call_later(GAP_WAIT_S, self._give_up_gap, lot_id)
            return
        self._emit(room, seq, frames)
        while room.last_seq + 1 in room.pending:
            self._emit(room, room.last_seq + 1, room.pending.pop(room.last_seq + 1))
        if not room.pending and room.gap_timer:
            room.gap_timer.cancel()
            room.gap_timer = None

    def _give_up_gap(self, lot_id: str) -> None:
        """The missing bid never came: write what we have; clients see the
        gap in `seq` and subscribe again for a snapshot."""
        room = self.rooms[lot_id]
        room.gap_timer = None
        for seq in sorted(room.pending):
            self._emit(room, seq, room.pending.pop(seq))

    def _emit(self, room: LotRoom, seq: int, frames: BidFrames) -> None:
        room.last_seq = seq
        room.history.append((seq, frames.lot))
        self._queue(room, seq, frames.lot)
        session = self.auctions.get(frames.auction_id, ())
        self.frames_pushed += len(room.watchers) + len(session)
        self._send_others(session, room, frames.summary)
        for user_id, frame in frames.notices:
            self._send_all(self.users.get(user_id, ()), frame)

    def lot_status(self, lot_id: str, auction_id: str, status: str, seq: int, frame: bytes) -> None:
        """A lot's status: to its watchers behind the bids before it, and to its
        session's; once, though a close completed on two paths may announce it twice."""
        room = self.room(lot_id)
        if room.status == (status, seq):
            return
        room.status = (status, seq)
        self._queue(room, 0, frame)
        self._send_others(self.auctions.get(auction_id, ()), room, frame)

    def to_session(self, auction_id: str, frame: bytes) -> None:
        self._send_all(self.auctions.get(auction_id, ()), frame)

    def to_user(self, user_id: str, frame: bytes) -> None:
        self._send_all(self.users.get(user_id, ()), frame)

    def to_coupon_watchers(self, frame: bytes) -> None:
        self._send_all(self.coupon_watchers, frame)

    def to_lot(self, lot_id: str, frame: bytes) -> None:
        """A frame for a lot's watchers in its next round (not a bid: no seq)."""
        room = self.rooms.get(lot_id)
        if room:
            self._queue(room, 0, frame)

    def _send_others(self, session, room: "LotRoom | None", frame: bytes) -> None:
        """To a session's watchers, but those that watch the lot as well: they get its own frame."""
        watching = room.watchers if room else {}
        for watcher in list(session):
            if watcher not in watching:
                watcher.push(frame)

    def _queue(self, room: LotRoom, seq: int, frame: bytes) -> None:
        if not room.watchers:
            return
        room.log.append((seq, frame))
        if not room.writing:
            room.writing = True  # on the next turn, so that events delivered together go out together
            self.bid_work.after(self._write_round, room, None, 0, 0)

    def _write_round(self, room: LotRoom, order: list | None, start: int, round_head: int) -> None:
        """Write to the next CHUNK watchers of `order` everything of the log
        they have not had, in one write each, then let the loop take a turn
        (acks, new bids) before the next chunk. Writing to every watcher costs
        about the same for several frames as for one (the kernel's loopback
        send is most of it), so frames that arrive during a round join the
        writes still ahead; the watchers already passed get them in the next
        round. A round ends at the last watcher; another follows while the
        log has grown since the round began."""
        if order is None:  # a new round: these watchers, up to this head
            order, round_head = list(room.watchers), room.head
        watchers, frames, base, head = room.watchers, room.log, room.log_base, room.head
        position, ahead = watchers.get, room.ahead
        from_, data = -1, b""  # most watchers of a chunk start from the same place: join once
        batch: list = []       # watchers whose sockets take `data` in one native call
        socks: list = []
        end = min(start + CHUNK, len(order))
        for watcher in order[start:end]:
            sent = position(watcher, head)
            if sent == head:
                continue  # gone, or subscribed after these frames
            watchers[watcher] = head
            try:
                if ahead and watcher in ahead:
                    self._write_rest(room, watcher, frames[sent - base:])
                    continue
                if sent != from_:
                    if socks:
                        self._send_batch(batch, socks, data)
                        batch, socks = [], []
                    from_, data = sent, b"".join(frame for _, frame in frames[sent - base:])
                sock = watcher.direct if native_send_all else None
                if sock is None:
                    watcher.push(data)
                else:
                    batch.append(watcher)
                    socks.append(sock)
            except Exception:  # push handles a socket's own troubles: this is a bug, not a reason to stop the lot
                log.exception("writing to a lot watcher failed")
        if socks:
            self._send_batch(batch, socks, data)
        if end < len(order):
            self.bid_work.after(self._write_round, room, order, end, round_head)
            return
        del frames[:round_head - base]  # every watcher has had these now
        room.log_base = round_head
        if not room.watchers:
            room.log_base = room.head
            frames.clear()
        if frames:
            self.bid_work.after(self._write_round, room, None, 0, 0)
        else:
            room.writing = False

    @staticmethod
    def _send_batch(batch: list, socks: list, data: bytes) -> None:
        """The same bytes to many sockets in one native call; a socket that
        took only part (or none: its buffer is full) gets the rest through
        `push`, which queues it in order behind what went."""
        for index, taken in native_send_all(socks, data):
            try:
                if taken >= 0:
                    batch[index].push(memoryview(data)[taken:])
                elif -taken in RETRY_ERRNOS:
                    batch[index].push(data)
                # else the connection is gone: its stream's own read notices and closes it
            except Exception:
                log.exception("writing to a lot watcher failed")

    @staticmethod
    def _write_rest(room: LotRoom, watcher, frames: list[tuple[int, bytes]]) -> None:
        """For a watcher whose snapshot holds bids this node has not delivered
        yet: the frames after those."""
        covered = room.ahead[watcher]
        if room.last_seq >= covered:
            del room.ahead[watcher]
        rest = b"".join(frame for seq, frame in frames if not seq or seq > covered)
        if rest:
            watcher.push(rest)

    @staticmethod
    def _send_all(watchers, frame: bytes) -> None:
        for watcher in list(watchers):
            watcher.push(frame)

    # --- watcher counts across nodes --------------------------------------
    def local_counts(self) -> dict[str, int]:
        return {lot_id: len(room.watchers) for lot_id, room in self.rooms.items() if room.watchers or room.count_sent > 0}

    def note_counts(self, node: str, counts: dict[str, int]) -> None:
        """Another node's watcher counts, as it last shared them."""
        at = time.monotonic()
        for lot_id, count in counts.items():
            self.counts.setdefault(lot_id, {})[node] = (count, at)

    def counts_to_announce(self) -> list[tuple[str, int]]:
        """At most once a second: each watched lot whose total changed, with
        the new total (the caller sends it in the lot's next round, so ten
        thousand watchers never take a round of their own). Also forgets the
        lots nobody here has watched for a while, so a node's memory follows
        what is live, not all it has ever seen."""
        idle = time.monotonic() - IDLE_ROOM_S
        for lot_id in [k for k, r in self.rooms.items()
                       if not r.watchers and not r.pending and not r.writing and r.active_at < idle]:
            del self.rooms[lot_id]
            self.counts.pop(lot_id, None)
        changed = []
        for lot_id, room in self.rooms.items():
            if not room.watchers:
                continue
            total = self.watcher_count(lot_id)
            if total != room.count_sent:
                room.count_sent = total
                changed.append((lot_id, total))
        return changed
