"""Wiring: open every connection in one place, build the application, run
until SIGTERM/SIGINT, close everything in the reverse order."""
import asyncio
import gc
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tornado.web

from domain import accounts
from domain.clock import SystemClock
from domain.deps import Deps
from domain.ratelimit import Limiter
from domain.rules import Rules
from handlers import accounts as account_h, addresses, admin, bids, catalog, deposits as deposit_h, health, orders, ws
from handlers import coupons as coupon_h
from handlers import metrics as metrics_h, openapi, payments, static
from handlers.base import NotFoundHandler
from handlers.edge import SecurityHeaders
from server import db as dbmod, demo, logs
from server import hub as hubmod
from server.broker import Broker, create_broker
from server.counters import SessionBidCounts
from server.coupon_feed import CouponFeed
from server.embedded_store import EmbeddedStore
from server.events import EventBus, Router
from server.gateways import create_gateways
from server.gateways.sandbox import sandbox_platforms
from server.hub import BidWork, Hub
from server.live import LiveLots
from server.metrics import Metrics
from server.operator_token import operator_token
from server.settings import Settings, load_settings
from server.timers import Timers

log = logging.getLogger("gavel")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Background:
    """Work that runs after the answer has gone out (the proxies' answer to a
    bid), kept referenced until it finishes, its failures logged."""

    def __init__(self):
        self.tasks: set[asyncio.Task] = set()

    def __call__(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())


@dataclass
class Context:
    """What the handlers are given (each route's `initialize`), built once by `build`."""
    settings: Settings
    node_id: str
    broker: Broker
    db: Any
    deps: Deps
    events: EventBus
    hub: Hub
    live: LiveLots
    timers: Timers
    counts: SessionBidCounts
    metrics: Metrics
    store_trouble: Callable[[], str]  # why the store cannot take a write now ("" when it can), without I/O
    coupon_feed: CouponFeed
    connects: Limiter  # new sockets per client address, on this node (a flood of connections is the node's to bear)
    sockets: set = field(default_factory=set)
    # The gateways' side, played by the sandbox pay page for gateways without keys.
    sandbox_platforms: dict = field(default_factory=dict)

    @property
    def clock(self):
        return self.deps.clock


def usable_gateways(settings: Settings) -> dict:
    """The gateways that take payments: live ones, and sandbox ones where
    sandbox payments are on (PAYMENT_SANDBOX; else they would be free money)."""
    gateways = create_gateways(settings, settings.data_dir)
    return {name: g for name, g in gateways.items() if not g.sandbox or settings.sandbox_payments}


def build(settings: Settings, client, broker: Broker, node_id: str) -> Context:
    db, clock, bid_work, metrics = dbmod.database(client), SystemClock(), BidWork(), Metrics()
    hub = Hub(node_id, bid_work)
    rules = Rules(settings.order_pay_seconds, settings.overdue_ban_days, offer_seconds=settings.offer_accept_seconds,
                  payment_timeout_seconds=settings.payment_timeout_seconds, credit_to_money=settings.credit_to_money,
                  credits_per_yuan=settings.credits_per_yuan, coupon_expire_seconds=settings.coupon_expire_seconds)
    events, gateways = EventBus(broker, node_id), usable_gateways(settings)
    deps = Deps(db, events, clock, Background(), rules, observer=metrics, gateways=gateways, bid_work=bid_work,
                bid_limits=Limiter(settings.bid_rate_per_second, settings.bid_rate_per_second * 2))
    live, counts = LiveLots(deps, hub), SessionBidCounts(db, clock)
    timers, coupon_feed = Timers(db, events, clock, rules, gateways), CouponFeed(hub, clock)
    events.route_to(Router(node_id, clock, hub, live, deps.bid_cache, timers, counts, coupon_feed))
    platforms = sandbox_platforms(settings.data_dir) if any(g.sandbox for g in gateways.values()) else {}
    rate = settings.ws_connects_per_second
    ctx = Context(settings, node_id, broker, db, deps, events, hub, live, timers, counts, metrics,
                  store_trouble=lambda: dbmod.store_trouble(client), coupon_feed=coupon_feed,
                  sandbox_platforms=platforms, connects=Limiter(rate, rate * 5))
    metrics.live(sockets=lambda: len(ctx.sockets), jobs=lambda: len(timers.scheduler.get_jobs()),
                 frames=lambda: hub.frames_pushed)
    return ctx


def make_app(ctx: Context) -> tornado.web.Application:
    c = {"ctx": ctx}
    routes = [
        (r"/healthz", health.HealthHandler, c),
        (r"/metrics", metrics_h.MetricsHandler, c),
        (r"/api/openapi\.json", openapi.OpenApiHandler, c),
        (r"/api/auth/code", account_h.CodeHandler, c),
        (r"/api/auth/login", account_h.LoginHandler, c),
        (r"/api/auth/logout", account_h.LogoutHandler, c),
        (r"/api/auth/logout-all", account_h.LogoutAllHandler, c),
        (r"/api/me", account_h.MeHandler, c),
        (r"/api/wallet/ledger", account_h.LedgerHandler, c),
        (r"/api/wallet/topup", account_h.TopupHandler, c),
        (r"/api/wallet/credits", account_h.CreditsHandler, c),
        (r"/api/addresses", addresses.AddressesHandler, c),
        (r"/api/addresses/([0-9a-f]{1,64})", addresses.AddressHandler, c),
        (r"/api/auctions", catalog.AuctionsHandler, c),
        (r"/api/auctions/([0-9a-f]{1,64})", catalog.AuctionHandler, c),
        (r"/api/lots/([0-9a-f]{1,64})", catalog.LotHandler, c),
        (r"/api/lots/([0-9a-f]{1,64})/bids", bids.BidsHandler, c),
        (r"/api/lots/([0-9a-f]{1,64})/proxy", bids.ProxyHandler, c),
        (r"/ws", ws.LiveSocket, c),
        (r"/api/admin/auctions", admin.AdminAuctionsHandler, c),
        (r"/api/admin/auctions/([0-9a-f]{1,64})", admin.AdminAuctionHandler, c),
        (r"/api/admin/auctions/([0-9a-f]{1,64})/lots", admin.AdminLotsHandler, c),
        (r"/api/admin/lots/([0-9a-f]{1,64})", admin.AdminLotHandler, c),
        (r"/api/admin/lots/([0-9a-f]{1,64})/(pause|resume|undo)", bids.LotControlHandler, c),
        (r"/api/admin/lots/([0-9a-f]{1,64})/bids", bids.AdminBidsHandler, c),
        (r"/api/admin/uploads", admin.UploadHandler, c),
        (r"/api/admin/audit", admin.AuditHandler, c),
        (r"/api/deposits", deposit_h.DepositsHandler, c),
        (r"/api/orders", orders.OrdersHandler, c),
        (r"/api/orders/([0-9a-f]{1,64})", orders.OrderHandler, c),
        (r"/api/orders/([0-9a-f]{1,64})/receive", orders.ReceiveHandler, c),
        (r"/api/orders/([0-9a-f]{1,64})/checkout", orders.CheckoutHandler, c),
        (r"/api/orders/([0-9a-f]{1,64})/pay", orders.PayHandler, c),
        (r"/api/payments/(wechat|alipay)/notify", payments.NotifyHandler, c),
        (r"/api/payments/alipay/return", payments.AlipayReturnHandler, c),
        (r"/api/payments/(?P<out_trade_no>[A-Z][0-9]{1,40})", payments.PaymentHandler, c),
        (r"/sandbox/pay/(?P<out_trade_no>[A-Z][0-9]{1,40})", payments.SandboxPayHandler, c),
        (r"/api/admin/deposits", deposit_h.AdminDepositsHandler, c),
        (r"/api/admin/orders", orders.AdminOrdersHandler, c),
        (r"/api/admin/lots/([0-9a-f]{1,64})/second-chance", orders.SecondChanceHandler, c),
        (r"/api/offers", orders.OffersHandler, c),
        (r"/api/offers/([0-9a-f]{1,64})/accept", orders.OfferAcceptHandler, c),
        (r"/api/offers/([0-9a-f]{1,64})/decline", orders.OfferDeclineHandler, c),
        (r"/api/admin/users/(?P<user_id>[0-9a-z]{1,64})/credits", admin.AdminCreditsHandler, c),
        (r"/api/coupons", coupon_h.CouponsHandler, c),
        (r"/api/coupons/([0-9a-f]{1,64})/claim", coupon_h.ClaimHandler, c),
        (r"/api/my/coupons", coupon_h.MyCouponsHandler, c),
        (r"/api/admin/coupons", coupon_h.AdminCouponsHandler, c),
        (r"/api/admin/coupons/([0-9a-f]{1,64})", coupon_h.AdminCouponHandler, c),
        (r"/uploads/(.*)", static.UploadFiles, {**c, "path": str(ctx.settings.data_dir / "uploads")}),
        (r"/((?!api/|ws$).*)", static.PageHandler, {**c, "path": os.path.join(ROOT, "static"),
                                                    "default_filename": "index.html"}),
    ]
    return tornado.web.Application(routes, default_handler_class=NotFoundHandler, default_handler_args=c,
                                   transforms=[SecurityHeaders],
                                   websocket_max_message_size=ctx.settings.ws_max_message,
                                   log_function=metrics_h.request_logger(ctx.metrics))


def freeze_heap() -> None:
    """What exists after start-up lives for the whole run: keep the collector
    from walking it again. With ten thousand sockets a full collection stops
    the loop long enough to show in the fan-out tail, so young collections
    are rarer and full ones rarer still."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = EmbeddedStore(settings.data_dir) if settings.embedded_store else None
    url = await store.start() if store else settings.mongodb_url
    broker = create_broker(settings.redis_url, settings.redis_prefix)
    client = dbmod.connect(url)
    node_id = secrets.token_hex(6)  # shown by /healthz: nothing about the host
    log.info("node %s is pid %d on %s", node_id, os.getpid(), socket.gethostname())
    ctx = build(settings, client, broker, node_id)
    server, tasks = None, []
    try:
        await broker.connect()
        await dbmod.ensure_indexes(ctx.db)
        await dbmod.upgrade(ctx.db, ctx.clock.now_ms())
        operator = operator_token(settings)
        token = operator.token
        if await accounts.bootstrap_operator(ctx.db, token, ctx.clock.now_ms()):
            log.warning("the operator token changed: the previous one no longer works (every node of a cluster "
                        "needs the same ADMIN_TOKEN, or each start ends the others' token)")
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(ctx.events.listen(ready)))
        await ready.wait()
        await ctx.timers.start()
        tasks.append(asyncio.create_task(ctx.timers.recover_forever(settings.recovery_interval_s)))
        tasks.append(asyncio.create_task(ctx.events.share_watcher_counts(ctx.hub)))
        tasks.append(asyncio.create_task(ctx.counts.run()))
        app = make_app(ctx)
        # Each route sets its own body limit as a request starts (handlers/base.py); this is the ceiling.
        server = app.listen(settings.port, settings.listen_host, max_body_size=settings.body_ceiling,
                            idle_connection_timeout=120, body_timeout=settings.body_timeout_s)
        port = next(iter(server._sockets.values())).getsockname()[1]
        print(f"Gavel is serving on http://127.0.0.1:{port}/ (listening on {settings.listen_host}; node {node_id})",
              flush=True)
        print(operator.announcement(settings), flush=True)
        if settings.sandbox_sms:
            print(sandbox_notice(settings), flush=True)
        if settings.demo:
            host = "127.0.0.1" if settings.listen_host in ("0.0.0.0", "::") else settings.listen_host
            tasks.append(asyncio.create_task(demo.run(host, port, token)))
        if hubmod.native_send_all is None:
            log.warning("fan-out writes from Python: scripts/build-native builds the faster native loop")
        freeze_heap()
        await stop.wait()
        log.info("shutting down")
    finally:
        if server:
            server.stop()
        for sock in list(ctx.sockets):
            sock.close(1001, "server shutting down")
        ctx.timers.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await broker.disconnect()
        await client.close()
        if store:
            await store.stop()


def sandbox_notice(settings: Settings) -> str:
    if settings.sandbox_by_default:
        return ("SMS sandbox on (no MONGODB_URL): login codes come back in the answer, so this server listens on "
                "loopback only. SMS_SANDBOX=0 turns the sandbox off; SMS_SANDBOX=1 serves it on HOST all the same.")
    if settings.listen_host in ("127.0.0.1", "::1", "localhost"):
        return "SMS sandbox on (SMS_SANDBOX=1): login codes come back in the answer."
    return (f"SMS sandbox on (SMS_SANDBOX=1) on {settings.listen_host}: anyone who can reach this server "
            "can log in as any phone.")


def main(argv: list[str] | None = None) -> None:
    settings = load_settings(argv)
    logs.configure(settings.log_level)

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(run())
