"""What every HTTP handler shares: the context, the body (streamed in within
its route's limit, of the media type the route takes), strict query
parameters, the caller, and one rendering of every error."""
import re
from typing import NamedTuple

import orjson
import tornado.web
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure
from tornado import httputil

from domain import accounts
from domain.errors import (DomainError, Forbidden, InvalidRequest, TooLarge, Unauthorized, Unavailable,
                           UnsupportedMediaType)
from handlers.edge import Edge
from handlers.errors import body, from_validation, http_status

JSON = "application/json"
MULTIPART = "multipart/form-data"
FORM = "application/x-www-form-urlencoded"
DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: str.isdigit() also says yes to digits int() refuses
HEX_ID = re.compile(r"[0-9a-f]{1,64}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def bearer_token(header: str) -> str:
    """`Authorization: token T` (the seeds' form) or `Bearer T`."""
    scheme, _, value = (header or "").strip().partition(" ")
    return value.strip() if scheme.lower() in ("token", "bearer") else ""


def media_type(headers) -> str:
    return headers.get("Content-Type", "").partition(";")[0].strip().lower()


class Query(NamedTuple):
    """A query parameter a handler method takes: parsed by `BaseHandler.queried`
    and described by /api/openapi.json from the same declaration."""
    name: str
    kind: str                 # "int", "choice" or "id"
    default: int | str = ""
    lo: int = 0
    hi: int = 0
    choices: tuple = ()
    required: bool = False

    def schema(self) -> dict:
        """Its schema; an empty value means "not given", as the parser takes it."""
        if self.kind == "int":
            return {"anyOf": [{"type": "integer", "minimum": self.lo, "maximum": self.hi}, {"const": ""}],
                    "default": self.default}
        if self.kind == "choice":
            return {"type": "string", "enum": [*self.choices, ""]}
        return {"type": "string", "pattern": f"^{HEX_ID.pattern}$" if self.required else f"^({HEX_ID.pattern})?$"}


def int_query(name: str, default: int, lo: int, hi: int) -> Query:
    return Query(name, "int", default, lo, hi)


def choice_query(name: str, choices) -> Query:
    return Query(name, "choice", choices=tuple(choices))


def id_query(name: str, required: bool = False) -> Query:
    return Query(name, "id", required=required)


def check_store(ctx) -> None:
    """Refuse at once, rather than after the driver's wait, while the store is known to be away."""
    trouble = ctx.store_trouble()
    if trouble:
        raise Unavailable(f"the store cannot be reached ({trouble}); nothing was done, try again shortly")


@tornado.web.stream_request_body
class BaseHandler(Edge, tornado.web.RequestHandler):
    accepts = JSON  # the media type of a body this route takes (uploads: multipart/form-data)
    bodies: dict = {}  # method -> the pydantic model it parses, for /api/openapi.json
    queries: dict = {}  # method -> the query parameters it takes (`Query`), parsed by `queried`, described there too
    answers: tuple = ()  # error statuses beyond those the OpenAPI document infers (handlers/openapi.py)

    def initialize(self, ctx):
        self.ctx = ctx
        self.db = ctx.db
        self.user, self.token = None, ""
        self._body = bytearray()
        self._limit = ctx.settings.max_body_bytes

    def now(self) -> int:
        return self.ctx.clock.now_ms()

    async def prepare(self):
        self.take_body()
        check_store(self.ctx)
        self.token = bearer_token(self.request.headers.get("Authorization"))
        self.user = await accounts.authenticate(self.db, self.token, self.now(), self.ctx.settings.token_life)

    # --- the body --------------------------------------------------------------
    def take_body(self) -> None:
        """Decide on the body from its headers, before a byte of it is read:
        not the route's media type, 415 (a bodiless POST is fine); larger
        than anything the server reads, 413 at once. Else it streams in and
        is kept up to the route's limit; past that, the rest is read and
        dropped (up to the server's ceiling, where Tornado cuts the
        connection) and the answer is 413, given once the client listens."""
        settings = self.ctx.settings
        self._limit = settings.max_upload_bytes if self.accepts == MULTIPART else settings.max_body_bytes
        headers = self.request.headers
        declared = headers.get("Content-Length", "").strip()
        if declared and not DIGITS.fullmatch(declared):
            raise InvalidRequest("Content-Length must be a number of bytes")
        length = int(declared or 0)
        has_body = length > 0 or "chunked" in headers.get("Transfer-Encoding", "").lower()
        if has_body and media_type(headers) != self.accepts:
            raise UnsupportedMediaType(f"send the body as {self.accepts}")
        if length > settings.body_ceiling:
            self.request.connection.set_max_body_size(length)  # our 413 goes out, not Tornado's bare 400
            raise TooLarge(f"the body is limited to {self._limit} bytes")
        # Tornado resolves this once the whole body is in, just before it calls
        # the method: `request.body` (and form fields, files) are there as usual.
        self.request._body_future.add_done_callback(self._body_in)

    def data_received(self, chunk: bytes) -> None:
        if self._body is None:
            return  # over the limit: dropped
        if len(self._body) + len(chunk) > self._limit:
            self._body = None
            return
        self._body += chunk

    def _body_in(self, future) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        if self._body is None:
            # The method Tornado calls next answers 413 instead (the client,
            # done sending, reads it; an early answer would meet a reset).
            setattr(self, self.request.method.lower(), self._refuse_body)
            return
        request = self.request
        request.body = bytes(self._body)
        if self.accepts != JSON:
            try:
                httputil.parse_body_arguments(request.headers.get("Content-Type", ""), request.body,
                                              request.body_arguments, request.files, request.headers)
            except httputil.HTTPInputError:
                return  # no fields: the handler says what it missed
            for name, values in request.body_arguments.items():
                request.arguments.setdefault(name, []).extend(values)

    def _refuse_body(self, *args):
        raise TooLarge(f"the body is limited to {self._limit} bytes")

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

    # --- query parameters: every one goes through `query` ------------------------
    def queried(self) -> dict:
        """The query parameters this method declares (`queries`), parsed."""
        values = {}
        for spec in self.queries.get(self.request.method.lower(), ()):
            if spec.kind == "int":
                value = self.query_int(spec.name, spec.default, spec.lo, spec.hi)
            elif spec.kind == "choice":
                value = self.query_choice(spec.name, spec.choices)
            else:
                value = self.query_id(spec.name)
            if spec.required and value == "":
                raise InvalidRequest(f"{spec.name} is required")
            values[spec.name] = value
        return values

    def query(self, name: str) -> str:
        """A query parameter's one value, "" when absent; given twice, not
        UTF-8, or with a control character: invalid_request."""
        values = self.request.query_arguments.get(name, [])
        if len(values) > 1:
            raise InvalidRequest(f"{name} is given more than once")
        if not values:
            return ""
        try:
            text = values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(f"{name} is not UTF-8") from None
        if CONTROL.search(text) or len(text) > 256:
            raise InvalidRequest(f"{name} must be printable text of at most 256 characters")
        return text

    def query_int(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.query(name)
        if raw == "":
            return default
        if not DIGITS.fullmatch(raw) or not lo <= int(raw) <= hi:
            raise InvalidRequest(f"{name} must be an integer from {lo} to {hi}")
        return int(raw)

    def query_choice(self, name: str, choices) -> str:
        raw = self.query(name)
        if raw and raw not in choices:
            raise InvalidRequest(f"{name} must be one of {', '.join(choices)}")
        return raw

    def query_id(self, name: str) -> str:
        raw = self.query(name)
        if raw and not HEX_ID.fullmatch(raw):
            raise InvalidRequest(f"{name} must be an id (lowercase hex)")
        return raw

    # --- the caller ----------------------------------------------------------------
    def require_user(self) -> dict:
        if not self.user:
            raise Unauthorized("log in first: Authorization: token …")
        return self.user

    def require_operator(self) -> dict:
        if self.require_user()["role"] != "operator":
            raise Forbidden("operators only")
        return self.user

    # --- answers ---------------------------------------------------------------------
    def send(self, payload, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(orjson.dumps(payload))

    def write_error(self, status_code: int, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        if not isinstance(exc, DomainError):
            return super().write_error(status_code, **kwargs)
        if "retry_after" in exc.extra:
            self.set_header("Retry-After", str(exc.extra["retry_after"]))
        if isinstance(exc, (TooLarge, UnsupportedMediaType)):
            self.set_header("Connection", "close")  # a body refused is not read to its end (or not at all)
        self.send(body(exc), http_status(exc))

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
