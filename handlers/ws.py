"""`/ws`: the live protocol of docs/ws.md.

A socket may watch anonymously; it needs a token (in the query or a first
`auth` message) to bid. A bad token leaves it watching; a second `auth` as
someone else is refused (one user per socket); a logout or the token's
lifetime ends its bidding. Text frames only: a binary one closes it with
1003. Each client address may open so many sockets a second on a node,
and each socket may watch so many lots and sessions.

Frames from the hub are written straight to the socket when nothing is
queued before them (no per-watcher serialisation; the hub's native loop
writes many sockets in one call); a watcher that stops reading fills a
bounded buffer and is dropped with 1013 instead of slowing the others or
growing memory.
"""
import asyncio
import logging
from typing import Annotated
from urllib.parse import urlparse

import orjson
import tornado.web
from pydantic import Field, StrictBool, ValidationError
from pymongo.errors import ConnectionFailure
from tornado.iostream import StreamBufferFullError, StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from domain import accounts, auctions, bidding, coupons, proxies
from domain.errors import Conflict, DomainError, InvalidRequest, RateLimited, TooLarge, Unauthorized, Unavailable
from domain.ratelimit import TokenBucket
from handlers import messages
from handlers.base import check_store
from handlers.edge import Edge
from handlers.errors import from_validation
from handlers.schemas import Body, Cents, Whole, whole

log = logging.getLogger("gavel.ws")
Id = Annotated[str, Field(min_length=1, max_length=64)]


class Subscribe(Body):
    lot: Id | None = None
    auction: Id | None = None
    since: whole(ge=0) | None = None
    coupons: StrictBool = False  # the claim centre (docs/architecture.md, "What Gavel adds")


class Bid(Body):
    lot: Id
    price: Cents
    id: Annotated[str, Field(max_length=64)] = ""


class Proxy(Body):
    lot: Id
    max_price: Cents
    id: Annotated[str, Field(max_length=64)] = ""


class Ping(Body):
    t: Whole | None = None


class Auth(Body):
    token: Annotated[str, Field(min_length=1, max_length=256)]


OPS = {"subscribe": Subscribe, "unsubscribe": Subscribe, "bid": Bid, "proxy": Proxy, "ping": Ping, "auth": Auth}


class LiveSocket(Edge, WebSocketHandler):
    def initialize(self, ctx):
        self.ctx = ctx
        self.user: dict | None = None
        self.token_id, self.token_ends = "", 0  # the token's hash, and when it ends at the latest (0: never)
        self.lots: set[str] = set()
        self.auctions: set[str] = set()
        self.stream = self.sock = None
        self.direct = None  # the socket while nothing is queued ahead of a new frame (read by the hub)
        self.messages = TokenBucket(ctx.settings.ws_messages_per_second, ctx.settings.ws_messages_per_second * 2)
        self.bids = TokenBucket(ctx.settings.bid_rate_per_second, ctx.settings.bid_rate_per_second * 2)

    async def prepare(self):
        if not self.ctx.connects.take(self.client_key):
            raise tornado.web.HTTPError(429, reason="too many new sockets from this address; slow down")

    def check_origin(self, origin: str) -> bool:
        """Browsers send Origin: same host, or one of ALLOWED_ORIGINS."""
        if origin in self.ctx.settings.allowed_origins:
            return True
        return urlparse(origin).netloc.lower() == self.request.host.lower()

    async def open(self):
        self.stream = stream = self.ws_connection.stream
        stream.max_write_buffer_size = self.ctx.settings.ws_max_buffer
        self.sock = stream.socket
        stream.write = self._noting_queue(stream.write)
        self.direct = None if stream.writing() else self.sock
        self.ctx.sockets.add(self)
        # The handshake's answer has gone: its headers and output transforms are not needed
        # again, and with thousands of sockets what each keeps counts.
        self._headers, self._transforms = None, None
        token = self.get_query_argument("token", "")
        if token:
            try:
                await self._auth(token)
            except DomainError as exc:
                self.send(messages.error(exc))

    def on_close(self):
        self.direct = None
        if self.stream is not None:
            vars(self.stream).pop("write", None)  # the stream's own method again: no cycle through _noting_queue
        self.ctx.sockets.discard(self)
        self.ctx.hub.forget(self, self.lots, self.auctions, self.user["_id"] if self.user else "")

    # --- outgoing ------------------------------------------------------------
    def _noting_queue(self, write):
        """Wrap the stream's `write` so that every write, ours or Tornado's own
        (pongs, close frames), leaves `direct` unset while bytes wait in the
        stream: a frame written straight to the socket then would overtake
        them. `push` sets it again once the stream has drained."""
        def write_noting_queue(data):
            try:
                return write(data)
            finally:
                if self.stream.writing():
                    self.direct = None
        return write_noting_queue

    def push(self, frame: bytes) -> None:
        """Write a pre-built frame: straight to the socket when nothing is
        queued ahead of it, else behind the queue, within a bounded buffer.
        Nothing more goes out once a close frame has."""
        stream = self.stream
        if stream is None or self.ws_connection is None or self.ws_connection.is_closing():
            return
        try:
            if not stream.writing():
                self.direct = self.sock
                try:
                    sent = self.sock.send(frame)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                if sent == len(frame):
                    return
                frame = memoryview(frame)[sent:]
            stream.write(frame)
        except StreamBufferFullError:
            asyncio.get_running_loop().call_soon(self._drop_slow)
        except (OSError, StreamClosedError):
            pass  # the connection is going; on_close tidies up

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.direct = None  # no frame after the close frame
        super().close(code, reason)

    def _drop_slow(self) -> None:
        if self.stream and not self.stream.closed():
            self.stream.max_write_buffer_size = None  # room for the close frame
            self.close(1013, "too slow: write buffer full")

    def send(self, message: dict) -> None:
        self.push(messages.frame(message))

    def bar(self, until: int) -> None:
        """The user defaulted on an order while this socket was open."""
        if self.user:
            self.user["banned_until"] = max(self.user.get("banned_until", 0), until)

    # --- incoming ------------------------------------------------------------
    async def on_message(self, raw):
        if isinstance(raw, bytes):
            self.close(1003, "text frames only")
            return
        request_id = ""
        try:
            if not self.messages.take():
                raise RateLimited("too many messages; slow down")
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise InvalidRequest("not JSON") from None
            if not isinstance(data, dict):
                raise InvalidRequest("a message must be a JSON object")
            if isinstance(data.get("id"), str):
                request_id = data["id"][:64]
            op = data.get("op")
            if op not in OPS:
                raise InvalidRequest(f"unknown op; one of {', '.join(OPS)}")
            try:
                msg = OPS[op].model_validate(data)
            except ValidationError as exc:
                raise from_validation(exc) from None
            if op != "ping":
                check_store(self.ctx)
            await getattr(self, f"op_{op}")(msg)
        except DomainError as exc:
            self.send(messages.error(exc, request_id))
        except ConnectionFailure:  # the store went away mid-request: nothing was done
            self.send(messages.error(Unavailable("the store cannot be reached; try again shortly"), request_id))
        except WebSocketClosedError:
            pass

    async def _auth(self, token: str) -> None:
        life = self.ctx.settings.token_life
        found = await accounts.session(self.ctx.db, token, self.ctx.clock.now_ms(), life)
        if not found:
            raise Unauthorized("invalid token; you may watch but not bid")
        user, entry = found
        if self.user and self.user["_id"] != user["_id"]:
            raise Conflict("this socket is someone else's: open another one to log in as another user")
        if not self.user:
            self.ctx.hub.add_user(self, user["_id"])
        self.user, self.token_id, self.token_ends = user, entry["_id"], accounts.ends_at(entry, life)
        self.send(messages.authenticated(user["_id"]))

    def log_out(self, token_id: str) -> None:
        """A logout somewhere (of this token, or of every token when "")."""
        if self.user and token_id in ("", self.token_id):
            self._sign_out()
            self.send(messages.logged_out())

    def _sign_out(self) -> None:
        self.ctx.hub.forget(self, (), (), self.user["_id"])
        self.user, self.token_id, self.token_ends = None, "", 0

    async def op_auth(self, msg: Auth) -> None:
        await self._auth(msg.token)

    async def op_ping(self, msg: Ping) -> None:
        self.send(messages.pong(msg.t, self.ctx.clock.now_ms()))

    async def op_subscribe(self, msg: Subscribe) -> None:
        if bool(msg.lot) + bool(msg.auction) + msg.coupons != 1:
            raise InvalidRequest("subscribe to exactly one of lot, auction or coupons")
        if msg.coupons:
            states = [coupons.state(c) for c in await coupons.centre(self.ctx.db)]
            if self.ws_connection is not None:  # else closed while they were read
                self.push(self.ctx.coupon_feed.watch(self, states))
            return
        limit = self.ctx.settings.ws_max_subscriptions
        watched = msg.lot in self.lots or msg.auction in self.auctions
        if len(self.lots) + len(self.auctions) >= limit and not watched:
            raise TooLarge(f"a socket may watch at most {limit} lots and sessions; unsubscribe from some first")
        if msg.auction:
            await auctions.get(self.ctx.db, msg.auction)
            self.auctions.add(msg.auction)
            self.ctx.hub.watch_auction(self, msg.auction)
            self.send(messages.subscribed(auction_id=msg.auction))
            return
        frames = await self.ctx.live.watch(self, msg.lot, msg.since)
        if self.ws_connection is None:  # closed while the lot was read: on_close has tidied up already
            self.ctx.hub.unwatch_lot(self, msg.lot)
            return
        self.lots.add(msg.lot)
        for frame in frames:
            self.push(frame)

    async def op_unsubscribe(self, msg: Subscribe) -> None:
        if msg.coupons:
            self.ctx.hub.unwatch_coupons(self)
            self.send(messages.coupons_unsubscribed())
            return
        if msg.lot:
            self.lots.discard(msg.lot)
            self.ctx.hub.unwatch_lot(self, msg.lot)
        if msg.auction:
            self.auctions.discard(msg.auction)
            self.ctx.hub.unwatch_auction(self, msg.auction)
        self.send(messages.unsubscribed(msg.lot, msg.auction))

    def _bidder(self) -> dict:
        if self.user and self.token_ends and self.ctx.clock.now_ms() >= self.token_ends:
            self._sign_out()
            raise Unauthorized("your login has expired: log in again")
        if not self.user:
            raise Unauthorized("authenticate to bid")
        if not self.bids.take():
            raise RateLimited("too many bids from this socket")
        return self.user

    async def op_bid(self, msg: Bid) -> None:
        result = await bidding.place_bid(self.ctx.deps, self._bidder(), msg.lot, msg.price, msg.id)
        self.send(messages.ack(msg.id, msg.lot, result.bid))

    async def op_proxy(self, msg: Proxy) -> None:
        proxy = await proxies.set_proxy(self.ctx.deps, self._bidder(), msg.lot, msg.max_price)
        self.send(messages.proxy_ack(msg.id, msg.lot, proxy["max_price"]))
