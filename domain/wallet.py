"""The ledger: the only way a balance changes.

Each user has an append-only list of lines numbered 1, 2, 3, … under a unique
(user_id, seq) index, so appending line n+1 succeeds for exactly one writer
and two concurrent debits can never spend the same money. Each line also has
a unique (user_id, key): a step that is repeated (a retried refund, a
recovery sweep) finds its line already there and changes nothing.
"""
from pymongo.errors import BulkWriteError, DuplicateKeyError

from domain.errors import InsufficientBalance

KINDS = ("opening", "topup", "deposit", "refund", "payment")


async def last_line(db, user_id: str) -> dict | None:
    return await db.ledger.find_one({"user_id": user_id}, sort=[("seq", -1)])


async def balance(db, user_id: str) -> int:
    line = await last_line(db, user_id)
    return line["balance_after"] if line else 0


async def append(db, user_id: str, kind: str, amount: int, key: str, now: int, ref: str = "") -> dict:
    """Add `amount` (negative for a debit) to the balance, once per `key`.

    Raises InsufficientBalance (changing nothing) if the balance would go
    below zero. Returns the line, the existing one if `key` was applied before.
    """
    assert kind in KINDS and isinstance(amount, int)
    return await append_line(db.ledger, "balance_after", user_id, kind, amount, key, now, ref,
                             lambda held: InsufficientBalance(f"balance {held} is less than {-amount}", balance=held))


async def append_line(lines, total: str, user_id: str, kind: str, amount: int, key: str, now: int, ref: str,
                      short) -> dict:
    """The append every keyed ledger shares (money here, credits in credits.py):
    line n+1 for exactly one writer, once per `key`, never below zero (`short(held)`
    is raised then). `total` names the running total each line carries."""
    while True:
        last = await lines.find_one({"user_id": user_id}, sort=[("seq", -1)])
        seq = last["seq"] + 1 if last else 1
        after = (last[total] if last else 0) + amount
        line = {
            "_id": f"{user_id}:{seq}", "user_id": user_id, "seq": seq, "kind": kind,
            "amount": amount, total: after, "key": key, "ref": ref,
            "created_at": now,
        }
        if after < 0:
            done = await lines.find_one({"user_id": user_id, "key": key})
            if done:
                return done
            raise short(after - amount)
        try:
            await lines.insert_one(line)
            return line
        except DuplicateKeyError:
            done = await lines.find_one({"user_id": user_id, "key": key})
            if done:
                return done
            # Another writer took line `seq` first: read the new tail and try again.


async def credit_many(db, user_id: str, credits: list[tuple[str, int, str, str]], now: int) -> None:
    """Credit several (kind, amount, key, ref) at once, each once per key: one
    read and one write when nobody else appends meanwhile (a refund batch).
    The lines go in in order, so a clash leaves a prefix in place and the
    rest is tried again on the new tail."""
    assert all(kind in KINDS and isinstance(amount, int) and amount > 0 for kind, amount, _, _ in credits)
    todo = credits
    while todo:
        last = await last_line(db, user_id)
        seq, after = (last["seq"], last["balance_after"]) if last else (0, 0)
        batch = []
        for kind, amount, key, ref in todo:
            seq, after = seq + 1, after + amount
            batch.append({"_id": f"{user_id}:{seq}", "user_id": user_id, "seq": seq, "kind": kind,
                          "amount": amount, "balance_after": after, "key": key, "ref": ref, "created_at": now})
        try:
            await db.ledger.insert_many(batch, ordered=True)
            return
        except BulkWriteError as exc:
            if any(e["code"] != 11000 for e in exc.details["writeErrors"]):
                raise
            keys = [key for _, _, key, _ in todo]
            done = {line["key"] async for line in db.ledger.find({"user_id": user_id, "key": {"$in": keys}}, {"key": 1})}
            todo = [c for c in todo if c[2] not in done]


async def lines(db, user_id: str, limit: int = 50, before_seq: int | None = None) -> list[dict]:
    query = {"user_id": user_id}
    if before_seq:
        query["seq"] = {"$lt": before_seq}
    return await db.ledger.find(query).sort("seq", -1).limit(limit).to_list(None)
