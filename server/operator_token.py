"""The bootstrap operator's token: ADMIN_TOKEN, or one generated on first
start and kept in DATA_DIR (readable by its owner only)."""
import os
import secrets

from server.settings import Settings


def operator_token(settings: Settings) -> str:
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token
