"""Bidding over HTTP, for clients without a socket: the same rules, errors
and fan-out as the WebSocket `bid` and `proxy` ops."""
from domain import bidding, controls, lots, proxies
from handlers import render, schemas
from handlers.base import BaseHandler, int_query


class BidsHandler(BaseHandler):
    bodies = {"post": schemas.BidRequest}
    queries = {"get": (int_query("limit", bidding.HISTORY_PAGE, 1, 100), int_query("before_seq", 0, 0, 10**12))}

    async def get(self, lot_id):
        """The bid history as bidders read it, newest first (before_seq pages back)."""
        await lots.get(self.db, lot_id)
        limit, before = self.queried().values()
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

    queries = {"get": (int_query("limit", 100, 1, 1000), int_query("before_seq", 0, 0, 10**12))}

    async def get(self, lot_id):
        self.require_operator()
        await lots.get(self.db, lot_id)
        limit, before = self.queried().values()
        items = await bidding.history(self.db, lot_id, limit, before, corrections=True)
        self.send({"items": render.each(items, lambda b: {**render.bid(b), "user_id": b["user_id"],
                                                          "kind": b["kind"]})})
