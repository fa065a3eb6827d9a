"""The bootstrap operator's token: ADMIN_TOKEN, or one generated on first
start and kept in DATA_DIR (readable by its owner only), the same on every
later start. Only a token generated just now is shown (printed once, for the
person who started the server); ADMIN_TOKEN and a kept one never reach the
output."""
import os
import secrets
from typing import NamedTuple

from server.settings import Settings


class OperatorToken(NamedTuple):
    token: str
    origin: str  # "ADMIN_TOKEN", "kept" (in DATA_DIR) or "generated" (just now)

    def announcement(self, settings: Settings) -> str:
        if self.origin == "generated":
            return f"Operator token: {self.token}  (generated now, kept in {settings.data_dir / 'admin_token'})"
        if self.origin == "kept":
            return f"Operator token: the one kept in {settings.data_dir / 'admin_token'}"
        return "Operator token: from ADMIN_TOKEN"


def operator_token(settings: Settings) -> OperatorToken:
    if settings.admin_token:
        return OperatorToken(settings.admin_token, "ADMIN_TOKEN")
    path = settings.data_dir / "admin_token"
    if path.exists():
        return OperatorToken(path.read_text().strip(), "kept")
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return OperatorToken(token, "generated")
