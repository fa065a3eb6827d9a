"""`GET /metrics` (Prometheus text), and the application's `log_function`,
the one place every answered HTTP request is counted, by route pattern."""
import hmac

import tornado.web
from prometheus_client.exposition import choose_encoder
from tornado.log import access_log

from domain.errors import Forbidden, Unauthorized
from handlers.base import BaseHandler, bearer_token
from handlers.edge import within
from handlers.openapi import path_template, routes

UNMATCHED = "(unmatched)"


class RouteLabels:
    """Handler → its route as `/api/lots/{id}/bids`. A class serving one
    route is a dict lookup; one serving several is matched again."""

    def __init__(self, app: tornado.web.Application):
        by_class: dict[type, list] = {}
        for pattern, cls in routes(app):
            by_class.setdefault(cls, []).append(pattern)
        self.one = {cls: path_template(patterns[0])[0] for cls, patterns in by_class.items() if len(patterns) == 1}
        self.several = {cls: [(rule.matcher, path_template(rule.matcher.regex.pattern)[0])
                              for rule in app.wildcard_router.rules if rule.target is cls]
                        for cls, patterns in by_class.items() if len(patterns) > 1}

    def __call__(self, handler) -> str:
        label = self.one.get(type(handler))
        if label is not None:
            return label
        for matcher, label in self.several.get(type(handler), ()):
            if matcher.match(handler.request) is not None:
                return label
        return UNMATCHED


def request_logger(metrics):
    """A `log_function`: count and time the request, then write Tornado's usual access log line."""
    labels: list[RouteLabels] = []

    def log_request(handler: tornado.web.RequestHandler) -> None:
        if not labels:
            labels.append(RouteLabels(handler.application))
        status = handler.get_status()
        seconds = handler.request.request_time()
        method = handler.request.method if handler.request.method in handler.SUPPORTED_METHODS else "other"
        metrics.request(labels[0](handler), method, status, seconds)
        log = (access_log.debug if status == 101 else access_log.info if status < 400
               else access_log.warning if status < 500 else access_log.error)
        # The path, not the URI: a socket's `?token=` must never reach a log.
        request = handler.request
        client = getattr(handler, "client_ip", request.remote_ip)
        log("%d %s %s (%s) %.2fms", status, request.method, request.path, client, 1000.0 * seconds)

    return log_request


class MetricsHandler(BaseHandler):
    """Prometheus metrics of this node. Open unless METRICS_ALLOW (client
    addresses or networks) or METRICS_TOKEN (`Authorization: Bearer …`) is
    set; with both, both are needed."""
    media_type = "text/plain"

    async def prepare(self):
        """No login and no database read: the scraper's address and its own token."""
        settings = self.ctx.settings
        if settings.metrics_networks and not within(self.client_ip, settings.metrics_networks):
            raise Forbidden("metrics are not served to this address")
        if settings.metrics_token:
            given = bearer_token(self.request.headers.get("Authorization")).encode()
            if not hmac.compare_digest(given, settings.metrics_token.encode()):
                raise Unauthorized("metrics need Authorization: Bearer METRICS_TOKEN")

    def get(self):
        encode, content_type = choose_encoder(self.request.headers.get("Accept", ""))
        self.set_header("Content-Type", content_type)
        self.finish(encode(self.ctx.metrics.registry))
