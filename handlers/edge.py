"""What every answer shares, whichever handler makes it: the security
headers (one output transform, applied by the application to every
response: JSON, pages, uploads, errors, the 404 handler, the socket's
upgrade), the client's address behind trusted proxies, errors as JSON with
`Allow` on a 405, and log lines that never carry the query string (a
socket's `?token=` travels there)."""
import ipaddress
from collections.abc import Iterable

import orjson
import tornado.web
from tornado.log import app_log, gen_log

from domain.ratelimit import address_key

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
ERROR_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 413: "too_large",
               415: "unsupported_media_type", 429: "rate_limited"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SecurityHeaders(tornado.web.OutputTransform):
    """Adds the security headers to every response (a handler may set a
    stricter value of its own first) and drops Tornado's version banner."""

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        if "Server" in headers:
            del headers["Server"]
        return status_code, headers, chunk


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`10.0.0.0/8`, `127.0.0.1`, `::1` … as networks (ValueError on a bad one)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def within(address: str, nets: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_address(peer: str, forwarded_for: str, trusted: tuple[Network, ...]) -> str:
    """The peer, unless the peer is a trusted proxy: then the right-most
    address of X-Forwarded-For that is not a trusted proxy (each proxy
    appends the address it received from, so that one is the client as far
    as anything trusted can tell). A malformed entry ends the walk at the
    proxy that passed it on."""
    if not within(peer, trusted):
        return peer
    hop = peer
    for entry in reversed(forwarded_for.split(",")):
        entry = entry.strip()
        if not entry:
            continue
        try:
            address = str(ipaddress.ip_address(entry))
        except ValueError:
            return hop
        if not within(address, trusted):
            return address
        hop = address
    return hop


def allowed_methods(cls) -> list[str]:
    """The methods a handler class implements, for `Allow`."""
    return [m.upper() for m in METHODS if getattr(cls, m) is not getattr(tornado.web.RequestHandler, m)]


class Edge:
    """Mixed into every handler class the application routes to (before
    Tornado's class): they all have `self.ctx`."""

    @property
    def client_ip(self) -> str:
        cached = getattr(self, "_client_ip", None)
        if cached is None:
            cached = self._client_ip = client_address(self.request.remote_ip or "",
                                                      self.request.headers.get("X-Forwarded-For", ""),
                                                      self.ctx.settings.trusted_networks)
        return cached

    @property
    def client_key(self) -> str:
        """The client's address as the per-address limits count it."""
        return address_key(self.client_ip)

    def _request_summary(self) -> str:
        """Tornado's, with the path instead of the URI: no query string in a log."""
        return f"{self.request.method} {self.request.path} ({self.client_ip})"

    def log_exception(self, typ, value, tb):
        if isinstance(value, tornado.web.HTTPError):
            if value.get_message():
                gen_log.warning("%d %s: %s", value.status_code, self._request_summary(), value.get_message())
            return
        # Tornado's own line adds repr(request), which carries the URI.
        app_log.error("Uncaught exception %s", self._request_summary(), exc_info=(typ, value, tb))

    def write_error(self, status_code: int, **kwargs):
        if status_code == 405:
            self.set_header("Allow", ", ".join(allowed_methods(type(self))))
        if status_code >= 500:
            code, message = "internal", "internal error"
        else:
            code, message = ERROR_CODES.get(status_code, "invalid_request"), self._reason
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(orjson.dumps({"error": {"code": code, "message": message}}))
