"""The timers: APScheduler's AsyncIOScheduler with its memory job store,
kept in step with the plan of domain/timeline.py by the events every node
hears (`apply`), so no handler ever arms a timer.

Jobs have fixed ids (`close-lot:{id}`), so arming again moves a timer instead
of adding one. APScheduler drops a job that runs more than
`misfire_grace_time` late (1 s by default) without a word; here the grace is
unlimited, so a timer that was due while the loop was busy, or while the
server was down, still fires. Every node arms every timer; each transition
is conditional, so the first node to act makes it.
"""
import asyncio
import logging
from datetime import datetime, timezone

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from domain import closing, coupons, offers, overdue, recovery, refunds, timeline
from domain.rules import Rules
from domain.timeline import Timer

log = logging.getLogger("gavel.timers")
RETRY_MS = 5000


class Timers:
    def __init__(self, db, events, clock, rules: Rules = Rules()):
        self.db, self.events, self.clock, self.rules = db, events, clock, rules
        self.scheduler = AsyncIOScheduler(
            timezone=timezone.utc,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self._jobs_of: dict[str, set[str]] = {}  # auction id -> the job ids of the session itself
        self._ends: dict[str, int] = {}  # auction id -> auction_end, as last read
        self._refunding: dict[str, bool] = {}  # auction id -> "run again": refund runs under way
        self._expiry_at = 0  # when the user coupons' expiry timer is armed (0: not armed)

    @property
    def running(self) -> bool:
        return self.scheduler.running

    async def start(self) -> None:
        self.scheduler.start()
        await self.rebuild()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def rebuild(self) -> None:
        """Every timer the stored documents call for (at start-up, and by each
        recovery sweep, so that a timer an event failed to arm is armed soon).
        A document whose timer cannot be armed (a time no calendar holds) is
        logged and left out: the server starts, and serves the rest."""
        db = self.db
        for cursor, arm in (
            (db.auctions.find({"deleted_at": 0, "status": {"$ne": "ended"}}, {"_id": 1}),
             lambda a: self.sync_session(a["_id"])),
            (db.orders.find({"status": "unpaid"}), self._arm_order),
            (db.offers.find({"status": "pending"}), self._arm_offer),
            (db.coupons.find({"deleted_at": 0, "status": {"$ne": "ended"}}, {"counting": 0}), self._sync_coupon),
        ):
            async for doc in cursor:
                try:
                    result = arm(doc)
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    log.exception("no timer for %s: it cannot be armed", doc.get("_id"))
        self._expiry_at = 0  # from the documents, not from what was armed: the first end, even one passed
        self.arm_expiry(await coupons.next_expiry(db, 0))

    async def apply(self, event: dict) -> None:
        """Re-arm what an event changed."""
        kind = event["type"]
        if kind == "session_changed":
            await self.sync_session(event["auction"])
        elif kind == "lot_changed":
            await self.sync_lot(event["lot"])
        elif kind == "status" and event["status"] == "live":  # live at last, or resumed with a later end
            self._arm(Timer(f"close-lot:{event['lot']}", event["end_at"], "close", event["lot"]), event["auction"])
        elif kind == "order":
            self._arm_order({"_id": event["order"], "status": event["status"], "deadline": event["deadline"],
                             "auction_id": event["auction"]})
        elif kind == "offer":
            self._arm_offer({"_id": event["offer"], "status": event["status"], "deadline": event["deadline"],
                             "auction_id": event["auction"]})
        elif kind == "coupon_changed":
            await self.sync_coupon(event["coupon"])
        elif kind == "coupon" and event.get("expires_at"):  # a claim: its user coupon may end first
            self.arm_expiry(event["expires_at"])

    async def sync_session(self, auction_id: str) -> None:
        """Arm exactly the timers the stored session and its lots call for."""
        auction = await self.db.auctions.find_one({"_id": auction_id})
        wanted = timeline.session_timers(auction) if auction else []
        if auction:
            self._ends[auction_id] = auction["auction_end"]
        for job_id in self._jobs_of.pop(auction_id, set()) - {t.job_id for t in wanted}:
            self.cancel(job_id)
        for timer in wanted:
            self._arm(timer, auction_id)
        if wanted:
            self._jobs_of[auction_id] = {t.job_id for t in wanted}
        if auction:
            async for lot in self.db.lots.find({"auction_id": auction_id}):
                try:
                    self._sync_lot(auction, lot)
                except Exception:
                    log.exception("no close timer for lot %s: it cannot be armed", lot["_id"])

    async def sync_lot(self, lot_id: str) -> None:
        lot = await self.db.lots.find_one({"_id": lot_id})
        auction = await self.db.auctions.find_one({"_id": lot["auction_id"]}) if lot else None
        if auction:
            self._sync_lot(auction, lot)

    def _sync_lot(self, auction: dict, lot: dict) -> None:
        timer = timeline.lot_timer(auction, lot)
        if timer:
            self._arm(timer, auction["_id"])
        else:
            self.cancel(f"close-lot:{lot['_id']}")

    def _arm_order(self, order: dict) -> None:
        timer = timeline.order_timer(order)
        if timer:
            self._arm(timer, order["auction_id"])
        else:
            self.cancel(f"overdue:{order['_id']}")

    def _arm_offer(self, offer: dict) -> None:
        timer = timeline.offer_timer(offer)
        if timer:
            self._arm(timer, offer["auction_id"])
        else:
            self.cancel(f"offer:{offer['_id']}")

    async def sync_coupon(self, coupon_id: str) -> None:
        coupon = await self.db.coupons.find_one({"_id": coupon_id}, {"counting": 0})
        if coupon:
            self._sync_coupon(coupon)

    def _sync_coupon(self, coupon: dict) -> None:
        wanted = timeline.coupon_timers(coupon)
        for job_id in {f"coupon-open:{coupon['_id']}", f"coupon-close:{coupon['_id']}"} - {t.job_id for t in wanted}:
            self.cancel(job_id)
        for timer in wanted:
            self._arm(timer, "")

    def arm_expiry(self, at: int) -> None:
        """The user coupons' expiry timer at `at`, unless it is armed earlier."""
        timer = timeline.coupon_expiry_timer(at)
        if timer and (not self._expiry_at or at < self._expiry_at):
            self._expiry_at = at
            self._arm(timer, "")

    def _arm(self, timer: Timer, auction_id: str, job_id: str = "") -> None:
        run_at = datetime.fromtimestamp(timer.at / 1000, tz=timezone.utc)
        self.scheduler.add_job(self._fire, "date", run_date=run_at, args=(timer.action, timer.target, auction_id),
                               id=job_id or timer.job_id, replace_existing=True)

    def cancel(self, job_id: str) -> None:
        try:
            self.scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    async def _fire(self, action: str, target: str, auction_id: str) -> None:
        now = self.clock.now_ms()
        try:
            if action == "close":
                what, end_at = await closing.close_lot(self.db, self.events, target, now, self.rules)
                if what == "not_due":  # extended by a late bid: again at the new end
                    self._arm(Timer(f"close-lot:{target}", end_at, "close", target), auction_id)
                    return
                await self.pay_refunds(auction_id)
                # A lot closing at the session's end leaves the end to the session's own
                # timer (which closes every due lot first); one closing later may be the last.
                if end_at > self._ends.get(auction_id, 0):
                    await timeline.end_if_done(self.db, self.events, auction_id, now, self.rules)
            elif action == "offer":
                await offers.expire(self.db, self.events, target, now, self.rules)
            elif action == "coupon":
                await coupons.advance(self.db, self.events, target, now)
                await self.sync_coupon(target)  # fired early (clock skew): again at its time
            elif action == "coupon-expiry":
                self._expiry_at = 0
                self.arm_expiry(await coupons.expire_due(self.db, now))
            elif action == "overdue":
                order = await overdue.expire(self.db, self.events, target, now, self.rules)
                if order:
                    self._arm_order(order)  # fired early (clock skew): again at the deadline
            else:
                await timeline.advance(self.db, self.events, target, now, self.rules)
                await self.pay_refunds(target)
        except Exception:
            # The database may be away for a moment: try again rather than lose the step.
            log.exception("timer %s %s failed; retrying", action, target)
            self._arm(Timer("", now + RETRY_MS, action, target), auction_id, job_id=f"{action}-retry:{target}")

    async def pay_refunds(self, auction_id: str) -> None:
        """Pay out the refunds of the lots that closed, one run at a time per
        session: when a thousand lots close at once, the closes that land
        during a run are paid by the next one, in one batch."""
        if auction_id in self._refunding:
            self._refunding[auction_id] = True
            return
        self._refunding[auction_id] = True
        try:
            while self._refunding[auction_id]:
                self._refunding[auction_id] = False
                await refunds.pay_lots(self.db, {"auction_id": auction_id}, self.clock.now_ms())
        finally:
            del self._refunding[auction_id]

    async def recover_forever(self, interval_s: float) -> None:
        """The recovery sweep (domain.recovery), then a rebuild of the timers:
        at start-up, then every interval. After the first sweep it looks for
        cut-off bids only among lots bid on since the last sweep that
        finished, less an interval for other nodes' clocks."""
        bids_since = 0
        while True:
            started = self.clock.now_ms()
            try:
                await recovery.sweep(self.db, self.events, started, self.rules, bids_since)
                if bids_since:  # start() has just rebuilt them
                    await self.rebuild()
                bids_since = started - int(interval_s * 1000)
            except Exception:
                log.exception("recovery sweep failed; next one in %ss", interval_s)
            await asyncio.sleep(interval_s)
