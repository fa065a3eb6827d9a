"""Liveness of what the server depends on."""
import asyncio

from handlers.base import BaseHandler


class HealthHandler(BaseHandler):
    async def prepare(self):
        pass  # no auth needed, and no database read before the check itself

    async def get(self):
        trouble = self.ctx.store_trouble()
        try:
            if trouble:
                raise ConnectionError(trouble)
            await asyncio.wait_for(self.db.command("ping"), 2)
            mongo = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure is "down", with its reason
            mongo = f"down: {trouble or type(exc).__name__}"
        try:
            redis = "ok" if await asyncio.wait_for(self.ctx.broker.ping(), 2) else "down"
        except Exception as exc:  # noqa: BLE001
            redis = f"down: {type(exc).__name__}"
        if not self.ctx.settings.redis_url:
            redis = "not used (single node, in-process fan-out)"
        scheduler = "ok" if self.ctx.timers.running else "stopped"
        healthy = mongo == "ok" and not redis.startswith("down") and scheduler == "ok"
        self.send({"status": "ok" if healthy else "degraded", "mongodb": mongo, "redis": redis,
                   "scheduler": scheduler, "node": self.ctx.node_id,
                   "store": "embedded" if self.ctx.settings.embedded_store else "external"},
                  200 if healthy else 503)
