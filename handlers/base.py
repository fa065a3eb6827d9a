"""What every HTTP handler shares: the context, JSON in and out, the caller,
and one rendering of every error."""
import logging

import orjson
import tornado.web
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure

from domain import accounts
from domain.errors import DomainError, Forbidden, InvalidRequest, TooLarge, Unauthorized, Unavailable
from handlers.errors import body, from_validation, http_status

log = logging.getLogger("gavel.http")


def bearer_token(header: str) -> str:
    """`Authorization: token T` (the seeds' form) or `Bearer T`."""
    scheme, _, value = (header or "").strip().partition(" ")
    return value.strip() if scheme.lower() in ("token", "bearer") else ""


def check_store(ctx) -> None:
    """Refuse at once, rather than after the driver's wait, while the store is known to be away."""
    trouble = ctx.store_trouble()
    if trouble:
        raise Unavailable(f"the store cannot be reached ({trouble}); nothing was done, try again shortly")


class BaseHandler(tornado.web.RequestHandler):
    accepts_uploads = False  # multipart routes have their own, larger limit
    bodies: dict = {}  # method -> the pydantic model it parses, for /api/openapi.json

    def initialize(self, ctx):
        self.ctx = ctx
        self.db = ctx.db

    def now(self) -> int:
        return self.ctx.clock.now_ms()

    async def prepare(self):
        length = int(self.request.headers.get("Content-Length") or len(self.request.body or b""))
        if length > self.ctx.settings.max_body_bytes and not self.accepts_uploads:
            raise TooLarge(f"body over {self.ctx.settings.max_body_bytes} bytes")
        check_store(self.ctx)
        self.user = await accounts.authenticate(self.db, bearer_token(self.request.headers.get("Authorization")))

    def require_user(self) -> dict:
        if not self.user:
            raise Unauthorized("log in first: Authorization: token …")
        return self.user

    def require_operator(self) -> dict:
        if self.require_user()["role"] != "operator":
            raise Forbidden("operators only")
        return self.user

    def parse(self, model):
        try:
            data = orjson.loads(self.request.body or b"null")
        except orjson.JSONDecodeError:
            raise InvalidRequest("body is not JSON") from None
        if not isinstance(data, dict):
            raise InvalidRequest("body must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise from_validation(exc) from None

    def query_int(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.get_query_argument(name, None)
        if raw in (None, ""):
            return default
        if not raw.isdigit() or not lo <= int(raw) <= hi:
            raise InvalidRequest(f"{name} must be an integer from {lo} to {hi}")
        return int(raw)

    def send(self, payload, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(orjson.dumps(payload))

    def write_error(self, status_code: int, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, DomainError):
            return self.send(body(exc), http_status(exc))
        if isinstance(exc, tornado.web.HTTPError) and status_code < 500:
            code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "invalid_request",
                    413: "too_large", 429: "rate_limited"}.get(status_code, "invalid_request")
            return self.send({"error": {"code": code, "message": self._reason}}, status_code)
        return self.send({"error": {"code": "internal", "message": "internal error"}}, status_code)

    def log_exception(self, typ, value, tb):
        if isinstance(value, DomainError):
            return
        super().log_exception(typ, value, tb)

    def _handle_request_exception(self, e):
        if isinstance(e, ConnectionFailure):  # the store went away mid-request: nothing was done
            e = Unavailable("the store cannot be reached; nothing was done, try again shortly")
        if isinstance(e, DomainError):
            if self._finished:
                return
            self.send_error(http_status(e), exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class NotFoundHandler(BaseHandler):
    async def prepare(self):
        raise tornado.web.HTTPError(404, reason="no such route")
