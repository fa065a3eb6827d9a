"""Login by phone code, logout, the caller's account and ledger."""
import logging

from domain import accounts, credits, logins, phones, settlement, wallet
from handlers import render, schemas
from handlers.base import BaseHandler, int_query
from handlers.payments import base_url

log = logging.getLogger("gavel.sms")


class CodeHandler(BaseHandler):
    bodies = {"post": schemas.CodeRequest}

    async def post(self):
        """Send a login code to a phone (in the SMS sandbox: answer it as `dev_code`)."""
        req, limits = self.parse(schemas.CodeRequest), self.ctx.settings.login_limits
        phone = phones.normalise(req.phone)
        code = await logins.request_code(self.db, phone, self.client_key, self.now(), limits)
        if limits.sandbox:
            return self.send({"sent": True, "dev_code": code})
        log.info("login code for …%s issued (no SMS provider configured)", phone[-4:])
        self.send({"sent": True})


class LoginHandler(BaseHandler):
    bodies = {"post": schemas.LoginRequest}

    async def post(self):
        """Log in with a code: a token, and the user (created at the first login)."""
        req = self.parse(schemas.LoginRequest)
        token, user = await accounts.login(self.db, phones.normalise(req.phone), req.code, self.client_key, self.now(),
                                           self.ctx.settings.start_balance, self.ctx.settings.login_limits)
        self.send({"token": token, "user": render.user(user, await wallet.balance(self.db, user["_id"]))})


class LogoutHandler(BaseHandler):
    async def post(self):
        """End this token (sockets authenticated with it can no longer bid)."""
        self.require_user()
        await accounts.logout(self.db, self.ctx.events, self.token)
        self.send({"ok": True})


class LogoutAllHandler(BaseHandler):
    async def post(self):
        """End every token of the caller, this one included."""
        user = self.require_user()
        ended = await accounts.logout_all(self.db, self.ctx.events, user["_id"])
        self.send({"ok": True, "ended": ended})


class MeHandler(BaseHandler):
    async def get(self):
        user = self.require_user()
        self.send(render.user(user, await wallet.balance(self.db, user["_id"])))


class LedgerHandler(BaseHandler):
    queries = {"get": (int_query("limit", 50, 1, 200), int_query("before_seq", 0, 0, 10**12))}

    async def get(self):
        """The caller's ledger lines, newest first, and the balance of the page's newest line."""
        user = self.require_user()
        limit, before = self.queried().values()
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
    queries = {"get": (int_query("limit", 50, 1, 200),)}

    async def get(self):
        """The caller's credits (积分) and their ledger, newest first."""
        user = self.require_user()
        lines = await credits.lines(self.db, user["_id"], self.queried()["limit"])
        held = lines[0]["credits_after"] if lines else 0  # the page's own newest line, as the ledger's
        self.send({"credits": held, "lines": render.each(lines, render.credit_line)})
