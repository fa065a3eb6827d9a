"""Login by phone code, the caller's account and ledger."""
import logging

from domain import accounts, credits, settlement, wallet
from handlers import render, schemas
from handlers.base import BaseHandler
from handlers.payments import base_url

log = logging.getLogger("gavel.sms")


class CodeHandler(BaseHandler):
    bodies = {"post": schemas.CodeRequest}

    async def post(self):
        req = self.parse(schemas.CodeRequest)
        code = await accounts.request_code(self.db, req.phone, self.now())
        if self.ctx.settings.sandbox_sms:
            return self.send({"sent": True, "dev_code": code})
        log.info("login code for %s issued (no SMS provider configured)", req.phone[-4:])
        self.send({"sent": True})


class LoginHandler(BaseHandler):
    bodies = {"post": schemas.LoginRequest}

    async def post(self):
        req = self.parse(schemas.LoginRequest)
        token, user = await accounts.login(self.db, req.phone, req.code, self.now(), self.ctx.settings.start_balance)
        self.send({"token": token, "user": render.user(user, await wallet.balance(self.db, user["_id"]))})


class MeHandler(BaseHandler):
    async def get(self):
        user = self.require_user()
        self.send(render.user(user, await wallet.balance(self.db, user["_id"])))


class LedgerHandler(BaseHandler):
    async def get(self):
        user = self.require_user()
        limit = self.query_int("limit", 50, 1, 200)
        before = self.query_int("before_seq", 0, 0, 10**12)
        lines = await wallet.lines(self.db, user["_id"], limit, before or None)
        if lines and not before:
            balance = lines[0]["balance_after"]  # the page's own newest line: a line appended meanwhile can't split them
        else:
            balance = await wallet.balance(self.db, user["_id"])
        self.send({"balance": balance, "items": render.each(lines, render.ledger_line)})


class TopupHandler(BaseHandler):
    bodies = {"post": schemas.TopupRequest}

    async def post(self):
        """Top up the balance through a gateway: a `payment`, credited when the gateway says it is paid."""
        user = self.require_user()
        req = self.parse(schemas.TopupRequest)
        payment = await settlement.start_topup(self.ctx.deps, user, req.amount, req.pay_type, base_url(self), self.now())
        self.send({"payment": render.payment(payment)}, 201)


class CreditsHandler(BaseHandler):
    async def get(self):
        """The caller's credits (积分) and their ledger, newest first."""
        user = self.require_user()
        lines = await credits.lines(self.db, user["_id"], self.query_int("limit", 50, 1, 200))
        held = lines[0]["credits_after"] if lines else 0  # the page's own newest line, as the ledger's
        self.send({"credits": held, "lines": render.each(lines, render.credit_line)})
