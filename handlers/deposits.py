"""Deposits (保证金): pay one from the balance or through a gateway, list
mine; operators list everyone's."""
from domain import deposits, settlement
from domain.states import DEPOSIT_STATE_TEXT, DEPOSIT_TEXT
from handlers import render, schemas
from handlers.base import BaseHandler, choice_query, id_query, int_query
from handlers.payments import base_url


class DepositsHandler(BaseHandler):
    bodies = {"post": schemas.DepositRequest}

    async def get(self):
        """The caller's deposits, with their refunds and deductions."""
        user = self.require_user()
        self.send({"items": render.each(await deposits.of_user(self.db, user["_id"]), render.deposit)})

    async def post(self):
        """Pay a lot deposit (lot_id) or a session deposit (lot_id null): from the
        balance at once, or `unpaid` with a gateway `payment` to complete."""
        user = self.require_user()
        req = self.parse(schemas.DepositRequest)
        doc, payment = await settlement.start_deposit(self.ctx.deps, user, req.auction_id, req.lot_id or "",
                                                      req.pay_type, base_url(self), self.now())
        (doc,) = await deposits.with_history(self.db, [doc])
        body = {"deposit": render.deposit(doc)}
        if payment:
            body["payment"] = render.payment(payment)
        self.send(body, 201)


class AdminDepositsHandler(BaseHandler):
    queries = {"get": (id_query("auction_id"), id_query("lot_id"), id_query("user_id"),
                       choice_query("status", DEPOSIT_TEXT), choice_query("state", DEPOSIT_STATE_TEXT),
                       int_query("limit", 100, 1, 1000))}

    async def get(self):
        """Every deposit, newest first; filters: auction_id, lot_id, user_id, status, state, limit."""
        self.require_operator()
        fields = self.queried()
        limit = fields.pop("limit")
        items = await deposits.listing(self.db, {f: v for f, v in fields.items() if v}, limit)
        self.send({"items": render.each(items, lambda d: {**render.deposit(d), "user_id": d["user_id"]})})
