"""The browser pages under static/, served with the headers that keep them
safe: a Content-Security-Policy that allows no inline script and no other
origin, no sniffing, no framing. One place, so a later pass can extend it
to every response."""
import tornado.web

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class PageHandler(tornado.web.StaticFileHandler):
    def set_extra_headers(self, path):
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        self.set_header("Cache-Control", "no-cache")  # revalidate (a cheap 304): pages and modules change together
