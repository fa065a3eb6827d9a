"""Identifiers: opaque hex ids, and readable serials safe to show a gateway."""
import secrets
import uuid
from datetime import datetime, timezone


def new_id() -> str:
    return uuid.uuid4().hex


def readable_serial(now_ms: int, prefix: str = "") -> str:
    """Time-ordered and unique enough to be guarded by a unique index:
    20260214085556 + milliseconds + 6 random digits (the seeds' 图录号 form)."""
    dt = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)
    return f"{prefix}{dt:%Y%m%d%H%M%S}{now_ms % 1000:03d}{secrets.randbelow(10**6):06d}"
