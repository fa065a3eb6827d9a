"""An append-only trail of every state change and operator action, so that
"did this happen once?" has an answer after the fact. Each entry is also a
log line at INFO, with its ids (never a token), so an operator can follow a
lot from the log alone."""
import logging

from pymongo.errors import DuplicateKeyError

from domain.ids import new_id

log = logging.getLogger("gavel.audit")


async def record(db, target: str, action: str, now: int, actor: str = "system", key: str = "", **details) -> None:
    """`key`: the entry of a step that a recovery may repeat, written once."""
    try:
        await db.audit.insert_one({"_id": key or new_id(), "target": target, "action": action, "actor": actor,
                                   "at": now, **details})
    except DuplicateKeyError:
        if not key:
            raise
        return  # recorded (and logged) before
    log.info("%s %s by %s %s", target, action, actor, " ".join(f"{k}={v}" for k, v in details.items()))


async def trail(db, target: str) -> list[dict]:
    return await db.audit.find({"target": target}).sort("at", 1).to_list(None)
