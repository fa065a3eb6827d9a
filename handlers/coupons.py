"""Coupons (优惠券): the operators' console, the claim centre (领券中心), the
claim, and my coupons (我的优惠券)."""
from domain import coupons
from domain.coupon_value import SCOPE_TEXT
from domain.states import COUPON_TEXT
from handlers import render, schemas
from handlers.base import BaseHandler, choice_query


class AdminCouponsHandler(BaseHandler):
    bodies = {"post": schemas.CouponCreate}
    queries = {"get": (choice_query("status", COUPON_TEXT), choice_query("scope", SCOPE_TEXT))}

    async def get(self):
        """Every coupon not deleted, newest first; filters: status, scope."""
        self.require_operator()
        status, scope = self.queried().values()
        items = await coupons.listing(self.db, status, scope)
        titles = await coupons.scope_titles(self.db, items)
        self.send({"items": render.each(items, lambda c: render.coupon(c, scope_title=titles[c["_id"]]))})

    async def post(self):
        """Create a coupon, `pending` until its claim_start."""
        self.require_operator()
        req = self.parse(schemas.CouponCreate)
        doc = await coupons.create(self.db, self.ctx.events, req.model_dump(), self.now(), self.ctx.deps.rules)
        self.send(render.coupon(doc), 201)


class AdminCouponHandler(BaseHandler):
    bodies = {"put": schemas.CouponEdit}

    async def get(self, coupon_id):
        self.require_operator()
        self.send(render.coupon(await coupons.get(self.db, coupon_id)))

    async def put(self, coupon_id):
        """Edit a coupon while it is `pending` (its timers move with it)."""
        self.require_operator()
        req = self.parse(schemas.CouponEdit)
        doc = await coupons.update(self.db, self.ctx.events, coupon_id, req.model_dump(exclude_unset=True), self.now(),
                                   self.ctx.deps.rules)
        self.send(render.coupon(doc))

    async def delete(self, coupon_id):
        """Delete a coupon (logically): its timers are cancelled; claimed ones stay their holders'."""
        self.require_operator()
        await coupons.delete(self.db, self.ctx.events, coupon_id, self.now())
        self.set_status(204)
        self.finish()


class CouponsHandler(BaseHandler):
    async def get(self):
        """The claim centre: every coupon given out now or before, what remains, whether the caller holds one."""
        items = await coupons.centre(self.db)
        titles = await coupons.scope_titles(self.db, items)
        held = await coupons.held_by(self.db, self.user["_id"]) if self.user else set()
        self.send({"items": render.each(items, lambda c: render.coupon(c, scope_title=titles[c["_id"]],
                                                                       held=c["_id"] in held))})


class ClaimHandler(BaseHandler):
    async def post(self, coupon_id):
        """Claim one: 201 {user_coupon, remaining}."""
        user = self.require_user()
        uc, remaining = await coupons.claim(self.db, self.ctx.events, user, coupon_id, self.now())
        self.send({"user_coupon": render.user_coupon(uc), "remaining": remaining}, 201)


class MyCouponsHandler(BaseHandler):
    async def get(self):
        """The caller's coupons grouped: unused (a locked one among them, with its own status), used, expired."""
        user = self.require_user()
        self.send(render.user_coupon_groups(await coupons.of_user(self.db, user["_id"])))
