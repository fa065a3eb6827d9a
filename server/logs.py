"""Logging for the whole process: one format, and no secret in any line.

Tokens travel in query strings (`/ws?token=…`), and a log line may quote a
URI from anywhere (Tornado's own warnings, a malformed request, a
traceback). Every record that reaches the output has the value of any
`…token=` parameter replaced, in its message and in its traceback, whoever
logged it."""
import logging
import re

SECRET = re.compile(r"(token=)[^&\s\"'#;,)]+", re.IGNORECASE)
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    return SECRET.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configure(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # PyMongo's DEBUG lines quote whole commands: users' phones, and the
    # hashes of live login codes (six digits: a hash is as good as the code).
    logging.getLogger("pymongo").setLevel(max(logging.INFO, logging.getLogger().level))
