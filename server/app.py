"""Wiring: open every connection in one place, build the application, run
until SIGTERM/SIGINT, close everything in the reverse order."""
import asyncio
import logging
import os
import secrets
import signal
import socket

import orjson
import tornado.web

from domain import accounts
from domain.clock import SystemClock
from handlers import accounts as account_h, admin, catalog, health
from handlers.base import NotFoundHandler
from server import db as dbmod
from server.broker import create_broker
from server.embedded_store import EmbeddedStore
from server.scheduler import Timeline
from server.settings import Settings, load_settings

log = logging.getLogger("gavel")
EVENTS = "events"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class EventBus:
    """Domain events go to every node through the broker, this one included."""

    def __init__(self, broker, node_id: str):
        self.broker, self.node_id = broker, node_id

    async def publish(self, event: dict) -> None:
        await self.broker.publish(EVENTS, orjson.dumps({**event, "node": self.node_id}))


class Context:
    """What handlers, timers and the hub share; built once by `start`."""

    def __init__(self, settings: Settings, client, broker, node_id: str):
        self.settings, self.client, self.broker, self.node_id = settings, client, broker, node_id
        self.clock = SystemClock()
        self.db = dbmod.database(client)
        self.events = EventBus(broker, node_id)
        self.timeline = Timeline(self.db, self.events, self.clock)
        self.tasks: list[asyncio.Task] = []

    async def timeline_changed(self, auction_id: str) -> None:
        """Re-arm this node's timers now, and tell the other nodes to."""
        await self.timeline.sync_auction(auction_id)
        await self.events.publish({"type": "timeline", "auction": auction_id})

    async def deposit_of(self, user: dict | None, auction_id: str, lot_id: str | None):
        return None

    async def on_event(self, event: dict) -> None:
        if event["type"] == "timeline":
            if event["node"] != self.node_id:
                await self.timeline.sync_auction(event["auction"])

    async def listen(self, ready: asyncio.Event) -> None:
        async with self.broker.subscribe(EVENTS) as messages:
            ready.set()
            async for raw in messages:
                try:
                    await self.on_event(orjson.loads(raw))
                except Exception:
                    log.exception("event handling failed")


def make_app(ctx: Context) -> tornado.web.Application:
    c = {"ctx": ctx}
    routes = [
        (r"/healthz", health.HealthHandler, c),
        (r"/api/auth/code", account_h.CodeHandler, c),
        (r"/api/auth/login", account_h.LoginHandler, c),
        (r"/api/me", account_h.MeHandler, c),
        (r"/api/wallet/ledger", account_h.LedgerHandler, c),
        (r"/api/auctions", catalog.AuctionsHandler, c),
        (r"/api/auctions/([0-9a-f]{1,64})", catalog.AuctionHandler, c),
        (r"/api/lots/([0-9a-f]{1,64})", catalog.LotHandler, c),
        (r"/api/admin/auctions", admin.AdminAuctionsHandler, c),
        (r"/api/admin/auctions/([0-9a-f]{1,64})", admin.AdminAuctionHandler, c),
        (r"/api/admin/auctions/([0-9a-f]{1,64})/lots", admin.AdminLotsHandler, c),
        (r"/api/admin/lots/([0-9a-f]{1,64})", admin.AdminLotHandler, c),
        (r"/api/admin/uploads", admin.UploadHandler, c),
        (r"/api/admin/audit", admin.AuditHandler, c),
        (r"/uploads/(.*)", tornado.web.StaticFileHandler, {"path": str(ctx.settings.data_dir / "uploads")}),
        (r"/((?!api/|ws$).*)", tornado.web.StaticFileHandler, {"path": os.path.join(ROOT, "static"), "default_filename": "index.html"}),
    ]
    return tornado.web.Application(routes, default_handler_class=NotFoundHandler, default_handler_args=c)


def admin_token(settings: Settings) -> str:
    """ADMIN_TOKEN, or one generated on first start and kept in DATA_DIR."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = EmbeddedStore(settings.data_dir) if settings.embedded_store else None
    url = await store.start() if store else settings.mongodb_url
    broker = create_broker(settings.redis_url, settings.redis_prefix)
    client = dbmod.connect(url)
    node_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    ctx = Context(settings, client, broker, node_id)
    server = None
    try:
        await broker.connect()
        await dbmod.ensure_indexes(ctx.db)
        token = admin_token(settings)
        await accounts.bootstrap_operator(ctx.db, token, ctx.clock.now_ms())
        ready = asyncio.Event()
        ctx.tasks.append(asyncio.create_task(ctx.listen(ready)))
        await ready.wait()
        await ctx.timeline.start()
        app = make_app(ctx)
        server = app.listen(settings.port, settings.host, max_body_size=settings.max_upload_bytes + 65536,
                            idle_connection_timeout=120)
        port = next(iter(server._sockets.values())).getsockname()[1]
        print(f"Gavel is serving on http://127.0.0.1:{port}/  (node {node_id})", flush=True)
        print(f"Operator token: {token}", flush=True)
        await stop.wait()
        log.info("shutting down")
    finally:
        if server:
            server.stop()
        ctx.timeline.stop()
        for task in ctx.tasks:
            task.cancel()
        await asyncio.gather(*ctx.tasks, return_exceptions=True)
        await broker.disconnect()
        await client.close()
        if store:
            await store.stop()


def main(argv: list[str] | None = None) -> None:
    settings = load_settings(argv)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(run())
