"""The one table from error code to HTTP status (docs/api.md, "Errors")."""
from pydantic import ValidationError

from domain.errors import DomainError, InvalidRequest, OutOfRange

STATUS = {
    "invalid_request": 400, "invalid_signature": 400, "amount_mismatch": 400,
    "unauthorized": 401,
    "forbidden": 403, "deposit_required": 403,
    "not_found": 404,
    "too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "unavailable": 503,
    "gateway_unavailable": 503,
}  # everything else is a 409 conflict of some kind

# pydantic error types meaning "parsed, but out of range" (422) rather than malformed (400).
RANGE_ERRORS = {
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_long", "too_short",
    "string_too_long", "string_too_short", "value_error", "multiple_of", "literal_error", "enum",
    "string_pattern_mismatch", "url_parsing", "url_scheme", "list_too_long",
}


def http_status(error: DomainError) -> int:
    if isinstance(error, OutOfRange):
        return 422
    return STATUS.get(error.code, 409)


def body(error: DomainError) -> dict:
    return {"error": {"code": error.code, "message": error.message, **error.extra}}


def from_validation(exc: ValidationError) -> DomainError:
    """Turn a pydantic failure into invalid_request, 400 or 422 as api.md asks."""
    problems = exc.errors(include_url=False, include_context=False, include_input=False)
    message = "; ".join(f"{'.'.join(map(str, p['loc'])) or 'body'}: {p['msg']}" for p in problems[:5])
    kind = OutOfRange if all(p["type"] in RANGE_ERRORS for p in problems) else InvalidRequest
    return kind(message)
