"""Files served from disk: the browser pages under static/ and the
operators' uploads. The security headers (the Content-Security-Policy that
allows no inline script and no other origin, no sniffing, no framing) come
from handlers/edge.py like every other answer; what is particular to files
is here: a path with a control character is simply not found (an encoded
NUL made Tornado answer 500), pages are revalidated, and uploads, which are
stored as sent after a magic-bytes check, get a sandboxing policy of their
own."""
import re

import tornado.web

from handlers.edge import Edge

CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
UPLOAD_CSP = "default-src 'none'; img-src 'self'; sandbox"


class Files(Edge, tornado.web.StaticFileHandler):
    def initialize(self, ctx, path: str, default_filename: str | None = None):
        self.ctx = ctx
        super().initialize(path, default_filename)

    def parse_url_path(self, url_path: str) -> str:
        if CONTROL.search(url_path):
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)


class PageHandler(Files):
    def set_extra_headers(self, path):
        self.set_header("Cache-Control", "no-cache")  # revalidate (a cheap 304): pages and modules change together


class UploadFiles(Files):
    def set_extra_headers(self, path):
        # Random names, never rewritten: cached for good. A file that is
        # HTML behind an image's first bytes runs nothing even if opened.
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        self.set_header("Content-Security-Policy", UPLOAD_CSP)
