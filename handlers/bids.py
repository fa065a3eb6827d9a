"""Bidding over HTTP, for clients without a socket: the same rules, errors
and fan-out as the WebSocket `bid` and `proxy` ops."""
from domain import bidding, controls, lots, proxies
from handlers import render, schemas
from handlers.base import BaseHandler


class BidsHandler(BaseHandler):
    bodies = {"post": schemas.BidRequest}

    async def get(self, lot_id):
        await lots.get(self.db, lot_id)
        limit = self.query_int("limit", bidding.HISTORY_PAGE, 1, 100)
        before = self.query_int("before_seq", 0, 0, 10**12)
        items = await bidding.history(self.db, lot_id, limit, before)
        self.send({"items": render.each(items, render.bid)})

    async def post(self, lot_id):
        user = self.require_user()
        req = self.parse(schemas.BidRequest)
        result = await bidding.place_bid(self.ctx.deps, user, lot_id, req.price, req.client_id)
        self.send({"bid": render.bid(result.bid), "lot": render.lot(result.lot)}, 201)


class ProxyHandler(BaseHandler):
    bodies = {"put": schemas.ProxyRequest}

    async def get(self, lot_id):
        user = self.require_user()
        proxy = await proxies.of_user(self.db, lot_id, user["_id"])
        self.send({"lot_id": lot_id, "max_price": proxy["max_price"] if proxy else 0})

    async def put(self, lot_id):
        user = self.require_user()
        req = self.parse(schemas.ProxyRequest)
        proxy = await proxies.set_proxy(self.ctx.deps, user, lot_id, req.max_price)
        lot = await lots.get(self.db, lot_id)
        self.send({"lot_id": lot_id, "max_price": proxy["max_price"], "leading": lot["leader"] == user["_id"],
                   "lot": render.lot(lot)})


class LotControlHandler(BaseHandler):
    """POST /api/admin/lots/{id}/(pause|resume|undo)."""

    async def post(self, lot_id, action):
        operator = self.require_operator()
        do = {"pause": controls.pause, "resume": controls.resume, "undo": controls.undo_last_bid}[action]
        lot = await do(self.db, self.ctx.events, lot_id, operator["_id"], self.now())
        self.send(render.admin_lot(lot))


class AdminBidsHandler(BaseHandler):
    """The full history, with who bid, for operators."""

    async def get(self, lot_id):
        self.require_operator()
        await lots.get(self.db, lot_id)
        limit = self.query_int("limit", 100, 1, 1000)
        before = self.query_int("before_seq", 0, 0, 10**12)
        items = await bidding.history(self.db, lot_id, limit, before, corrections=True)
        self.send({"items": render.each(items, lambda b: {**render.bid(b), "user_id": b["user_id"],
                                                          "kind": b["kind"]})})
