"""The timers: APScheduler's AsyncIOScheduler with its memory job store.

What to arm comes from domain.timeline; this module only keeps the jobs in
step with it. Jobs have fixed ids (`close-lot:{id}`), so arming again moves a
timer instead of adding one. APScheduler drops a job that runs more than
`misfire_grace_time` late (1 s by default) without a word; here the grace is
unlimited, so a timer that was due while the loop was busy, or while the
server was down, still fires.
"""
import asyncio
import logging
from datetime import datetime, timezone

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from domain import closing, overdue, recovery, refunds, timeline
from domain.orders import Rules

log = logging.getLogger("gavel.timeline")
RETRY_MS = 5000


class Timeline:
    def __init__(self, db, events, clock, rules: Rules = Rules()):
        self.db, self.events, self.clock, self.rules = db, events, clock, rules
        self.scheduler = AsyncIOScheduler(
            timezone=timezone.utc,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self._jobs_of: dict[str, set[str]] = {}  # auction id -> its job ids
        self._ends: dict[str, int] = {}  # auction id -> auction_end, as last read
        self._refunding: dict[str, bool] = {}  # auction id -> "run again": refund runs under way

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
        async for auction in self.db.auctions.find({"deleted_at": 0, "status": {"$ne": "ended"}}, {"_id": 1}):
            await self.sync_auction(auction["_id"])
        await self.sync_orders({})

    async def sync_auction(self, auction_id: str) -> None:
        """Arm exactly the timers the stored session and lots call for."""
        auction = await self.db.auctions.find_one({"_id": auction_id})
        lots = await self.db.lots.find({"auction_id": auction_id, "deleted_at": 0}).to_list(None) if auction else []
        wanted = timeline.timers(auction, lots) if auction else []
        if auction:
            self._ends[auction_id] = auction["auction_end"]
        for job_id in self._jobs_of.pop(auction_id, set()) - {t.job_id for t in wanted}:
            self.cancel(job_id)
        for timer in wanted:
            self.arm(timer.job_id, timer.at, self._fire, timer.action, timer.target, auction_id)
        if wanted:
            self._jobs_of[auction_id] = {t.job_id for t in wanted}
        await self.sync_orders({"auction_id": auction_id})

    async def sync_orders(self, query: dict) -> None:
        """A timer at the deadline of every unpaid order matching `query`."""
        async for order in self.db.orders.find({**query, "status": "unpaid"}, {"deadline": 1, "auction_id": 1}):
            self.arm(f"overdue:{order['_id']}", order["deadline"], self._fire, "overdue", order["_id"], order["auction_id"])

    def arm(self, job_id: str, at_ms: int, func, *args) -> None:
        run_at = datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc)
        self.scheduler.add_job(func, "date", run_date=run_at, args=args, id=job_id, replace_existing=True)

    def cancel(self, job_id: str) -> None:
        try:
            self.scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    def arm_close(self, lot_id: str, auction_id: str, at_ms: int) -> None:
        self.arm(f"close-lot:{lot_id}", at_ms, self._fire, "close", lot_id, auction_id)

    async def _fire(self, action: str, target: str, auction_id: str) -> None:
        now = self.clock.now_ms()
        try:
            if action == "close":
                what, end_at = await closing.close_lot(self.db, self.events, target, now, self.rules)
                if what == "not_due":
                    self.arm_close(target, auction_id, end_at)
                    return
                await self.sync_orders({"lot_id": target})
                await self.pay_refunds(auction_id)
                # A lot closing at the session's end leaves the end to the session's own
                # timer (which closes every due lot first); one closing later may be the last.
                if end_at > self._ends.get(auction_id, 0):
                    await timeline.end_if_done(self.db, self.events, auction_id, now, self.rules)
            elif action == "overdue":
                await overdue.expire(self.db, self.events, target, now, self.rules)
                await self.sync_orders({"_id": target})  # fired early (clock skew): again at the deadline
            else:
                await timeline.advance(self.db, self.events, target, now, self.rules)
                await self.sync_orders({"auction_id": target})
                await self.pay_refunds(target)
        except Exception:
            # The database may be away for a moment: try again rather than lose the step.
            log.exception("timer %s %s failed; retrying", action, target)
            retry_id = f"{action}-retry:{target}"
            self.arm(retry_id, now + RETRY_MS, self._fire, action, target, auction_id)

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
        """The recovery sweep (domain.recovery): at start-up, then every interval.
        After the first it looks for cut-off bids only among lots bid on since
        the last sweep that finished, less an interval for other nodes' clocks."""
        bids_since = 0
        while True:
            started = self.clock.now_ms()
            try:
                if await recovery.sweep(self.db, self.events, started, self.rules, bids_since):
                    await self.sync_orders({})  # orders the sweep made need their deadline timers
                bids_since = started - int(interval_s * 1000)
            except Exception:
                log.exception("recovery sweep failed; next one in %ss", interval_s)
            await asyncio.sleep(interval_s)
