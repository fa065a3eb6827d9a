"""Deposits (保证金): pay one from the balance or through a gateway, list
mine; operators list everyone's."""
from domain import deposits, settlement
from domain.states import DEPOSIT_STATE_TEXT, DEPOSIT_TEXT
from handlers import render, schemas
from handlers.base import BaseHandler
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
    async def get(self):
        """Every deposit, newest first; filters: auction_id, lot_id, user_id, status, state, limit."""
        self.require_operator()
        fields = {"auction_id": self.query_id("auction_id"), "lot_id": self.query_id("lot_id"),
                  "user_id": self.query_id("user_id"), "status": self.query_choice("status", DEPOSIT_TEXT),
                  "state": self.query_choice("state", DEPOSIT_STATE_TEXT)}
        query = {f: v for f, v in fields.items() if v}
        items = await deposits.listing(self.db, query, self.query_int("limit", 100, 1, 1000))
        self.send({"items": render.each(items, lambda d: {**render.deposit(d), "user_id": d["user_id"]})})
