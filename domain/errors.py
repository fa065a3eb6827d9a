"""Domain errors carry the error codes of docs/ws.md.

Handlers map them to HTTP statuses and WebSocket error frames in one place
(handlers/errors.py); the domain never knows about either.
"""


class DomainError(Exception):
    code = "conflict"

    def __init__(self, message: str = "", **extra):
        super().__init__(message or self.code)
        self.message = message or self.code.replace("_", " ")
        self.extra = extra


class InvalidRequest(DomainError):
    code = "invalid_request"


class OutOfRange(InvalidRequest):
    """The request parsed but a value breaks a rule (HTTP 422)."""


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class LotNotLive(DomainError):
    code = "lot_not_live"


class BidTooLow(DomainError):
    code = "bid_too_low"


class BidTooHigh(DomainError):
    """A jump above what the session allows over the next minimum (a Gavel addition to the codes)."""
    code = "bid_too_high"


class AlreadyLeading(DomainError):
    code = "already_leading"


class DepositRequired(DomainError):
    code = "deposit_required"


class InsufficientBalance(DomainError):
    code = "insufficient_balance"


class RateLimited(DomainError):
    code = "rate_limited"


class TooLarge(DomainError):
    code = "too_large"


class CouponUnavailable(DomainError):
    code = "coupon_unavailable"


class CouponSoldOut(DomainError):
    code = "coupon_sold_out"


class CouponAlreadyClaimed(DomainError):
    code = "coupon_already_claimed"


class OrderNotPayable(DomainError):
    code = "order_not_payable"


class InvalidSignature(DomainError):
    code = "invalid_signature"


class AmountMismatch(DomainError):
    code = "amount_mismatch"


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"


class Unavailable(DomainError):
    """The store cannot be reached: nothing was done (a Gavel addition to the codes, HTTP 503)."""
    code = "unavailable"


class GatewayUnavailable(DomainError):
    """A payment gateway did not answer, or refused: nothing is known to have
    happened, so the same request may be tried again later."""
    code = "gateway_unavailable"
