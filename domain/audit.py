"""An append-only trail of every state change and operator action, so that
"did this happen once?" has an answer after the fact."""
from pymongo.errors import DuplicateKeyError

from domain.ids import new_id


async def record(db, target: str, action: str, now: int, actor: str = "system", key: str = "", **details) -> None:
    """`key`: the entry of a step that a recovery may repeat, written once."""
    try:
        await db.audit.insert_one({"_id": key or new_id(), "target": target, "action": action, "actor": actor,
                                   "at": now, **details})
    except DuplicateKeyError:
        if not key:
            raise


async def trail(db, target: str) -> list[dict]:
    return await db.audit.find({"target": target}).sort("at", 1).to_list(None)
