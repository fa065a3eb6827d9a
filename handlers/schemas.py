"""Request bodies, validated by pydantic: the only place input is checked for
shape and range. Nothing passes that the rest of the server cannot store,
show and arm timers for: money is a whole number of cents within what a
bid may reach (367 or 367.0, the same JSON number; never 367.5, "367" or
true); times are ISO-8601
strings between 2000 and 2100, turned into epoch ms; text has no control
characters."""
import re
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, WithJsonSchema,
                      create_model, model_validator)
from pydantic_core import PydanticCustomError

from domain.clock import from_iso

TIME_MIN, TIME_MAX = from_iso("2000-01-01T00:00:00Z"), from_iso("2100-01-01T00:00:00Z")
MAX_CENTS = 10**11  # a billion yuan: beyond any bid the jump rule lets through, and exact in a JavaScript number
PLAIN = r"^[^\x00-\x1f\x7f-\x9f]*$"  # no control characters (C0 and C1)


def _whole(value):
    """A whole number: 367 or 367.0 (the same JSON number), never 367.5, a string or a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("int_type", "must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError("int_from_float", "must be a whole number, not a fraction")
        return int(value)
    return value


def whole(**constraints):
    """A whole number within `constraints` (pydantic's gt, ge, le …), described as an integer."""
    return Annotated[int, Field(**constraints), BeforeValidator(_whole)]


Whole = whole()


def _time(value):
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "must be an ISO-8601 time string such as 2026-11-23T12:00:00Z")
    try:
        ms = from_iso(value)
    except (ValueError, OverflowError, OSError):
        raise PydanticCustomError("datetime_type", "not an ISO-8601 time") from None
    if not TIME_MIN <= ms < TIME_MAX:
        raise PydanticCustomError("value_error", "a time must be in the years 2000 to 2099")
    return ms


# What an operator may store as a cover, image or video: an http(s) URL or
# one of this server's uploads; never `javascript:`, `data:` or the like.
URL_PATTERN = (r"^(?:(?:[Hh][Tt][Tt][Pp][Ss]?://[^\s\x00-\x1f\x7f/\\?#]+(?:[/?#][^\s\x00-\x1f\x7f\\]*)?)"
               r"|/uploads/[A-Za-z0-9_-]{1,64}\.(?:png|jpe?g|gif|webp))?$")
_URL = re.compile(URL_PATTERN)


def _url(value: str) -> str:
    if not _URL.fullmatch(value):
        raise PydanticCustomError("url_scheme",
                                  "must be an http:// or https:// URL, or a /uploads/ path of this server")
    return value


Time = Annotated[int, BeforeValidator(_time), WithJsonSchema(
    {"type": "string", "format": "date-time", "description": "ISO-8601, in the years 2000 to 2099"})]
Cents = whole(gt=0, le=MAX_CENTS)
CentsOrZero = whole(ge=0, le=MAX_CENTS)
Seconds = whole(ge=0, le=86400)
Text = Annotated[str, Field(min_length=1, max_length=64, pattern=PLAIN)]
Url = Annotated[str, Field(max_length=512, json_schema_extra={"pattern": URL_PATTERN}), AfterValidator(_url)]
# Normalised by the handler (domain.phones): 422 for what is not a mobile number.
# A mainland mobile number as people write it (domain.phones makes it the 11 digits): `13900000009`,
# `+86 139 0000 0009`, `013900000009`, `0086-139-0000-0009`.
PHONE = re.compile(r"^[-() .]*(\+?86|0086|0)?[-() .]*1[3-9]([-() .]*[0-9]){9}[-() .]*$")


def _phone(value: str) -> str:
    if not PHONE.match(value):
        raise PydanticCustomError("value_error", "phone must be a mainland China mobile number, such as "
                                                 "13900000009 or +86 139 0000 0009")
    return value


Phone = Annotated[str, Field(max_length=32, json_schema_extra={"pattern": PHONE.pattern}), AfterValidator(_phone)]
ContactPhone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 -]{4,19}$")]  # an address's: any phone, landlines too


class Body(BaseModel):
    # Values are checked, and kept, exactly as sent: what the schema describes.
    model_config = ConfigDict(extra="ignore")


class CodeRequest(Body):
    phone: Phone


class LoginRequest(Body):
    phone: Phone
    code: Annotated[str, Field(pattern=r"^[0-9]{4,8}$")]


class AuctionCreate(Body):
    """A session. Its times must satisfy preview_start ≤ preview_end ≤
    auction_start < auction_end, its end must be ahead of now and at most a
    year away (422 otherwise); extend_by_s is required with extend_window_s."""
    title: Text
    cover: Url = ""
    video: Url = ""
    preview_start: Time
    preview_end: Time
    auction_start: Time
    auction_end: Time
    deposit: Cents = 100000
    extend_window_s: Seconds = 0
    extend_by_s: Seconds = 0
    max_extend_s: Seconds = 0
    max_jump: CentsOrZero = 0  # most a bid may be above the next minimum; 0: 10× next minimum or high estimate


class Image(Body):
    url: Annotated[Url, Field(min_length=1)]
    carousel: StrictBool = False
    order: whole(ge=0, le=10000) = 0


class Spec(Body):
    key: Annotated[str, Field(min_length=1, max_length=32, pattern=PLAIN)]
    value: Annotated[str, Field(max_length=128, pattern=PLAIN)]


class LotCreate(Body):
    """A lot of a session not yet live (409 once it is); estimate_low must not
    exceed estimate_high (422); a catalog_no already taken is 409."""
    title: Text
    catalog_no: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,32}$")] = ""
    cover: Url = ""
    images: Annotated[list[Image], Field(max_length=30)] = []
    specs: Annotated[list[Spec], Field(max_length=50)] = []
    start_price: Cents
    increment: Cents = 10000
    estimate_low: CentsOrZero = 0
    estimate_high: CentsOrZero = 0
    reserve_price: CentsOrZero = 0
    deposit: Cents = 10000
    max_credit: whole(ge=0, le=10**9) = 0  # credits (积分) the lot takes at checkout


def partial(model: type[Body]) -> type[Body]:
    """The same fields, all optional, for edits (PUT): what is sent is checked
    exactly as on create, what is left out is kept. `null` is refused."""
    fields = {name: (Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation, None)
              for name, f in model.model_fields.items()}
    return create_model(f"{model.__name__}Edit", __base__=Body, __doc__=model.__doc__, **fields)


AuctionEdit = partial(AuctionCreate)
LotEdit = partial(LotCreate)


class BidRequest(Body):
    price: Cents
    client_id: Annotated[str, Field(min_length=1, max_length=64)] = ""


class ProxyRequest(Body):
    max_price: Cents


class DepositRequest(Body):
    auction_id: Annotated[str, Field(min_length=1, max_length=64)]
    lot_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    pay_type: Literal["balance", "wechat", "alipay"]


Id = Annotated[str, Field(min_length=1, max_length=64)]
Place = Annotated[str, Field(min_length=1, max_length=32, pattern=PLAIN)]
Gateway = Literal["wechat", "alipay"]


class AddressCreate(Body):
    name: Place
    phone: ContactPhone
    province: Place
    city: Place
    county: Place
    detail: Annotated[str, Field(min_length=1, max_length=128, pattern=PLAIN)]
    is_default: StrictBool = False


AddressEdit = partial(AddressCreate)


class PayRequest(Body):
    """One coupon or some credits, never both (seed `004`)."""
    model_config = ConfigDict(json_schema_extra={"not": {  # the same rule, said in the schema
        "required": ["coupon_id", "credits"],
        "properties": {"coupon_id": {"type": "string"}, "credits": {"exclusiveMinimum": 0}}}})
    address_id: Id
    pay_type: Literal["balance", "wechat", "alipay"]
    coupon_id: Id | None = None
    credits: whole(ge=0, le=10**9) = 0

    @model_validator(mode="after")
    def _one_discount(self) -> "PayRequest":
        if self.coupon_id and self.credits:
            raise ValueError("use a coupon or credits, not both")
        return self


class TopupRequest(Body):
    amount: whole(gt=0, le=10**8)  # at most 1,000,000 yuan at a time
    pay_type: Gateway


class CreditGrant(Body):
    """Credits to grant, or (negative) to take."""
    amount: whole(ge=-10**9, le=10**9, json_schema_extra={"not": {"const": 0}})
    reason: Annotated[str, Field(min_length=1, max_length=128, pattern=PLAIN)]

    @model_validator(mode="after")
    def _not_zero(self) -> "CreditGrant":
        if not self.amount:
            raise ValueError("amount must not be 0")
        return self
RefId = Annotated[str, Field(pattern=r"^[0-9a-f]{0,64}$")]  # "" names nothing


class CouponCreate(Body):
    """A coupon (docs/rules.md, "Coupons"). A discount's `value` is the percent
    paid (88 = pay 88 %, 1–99), with an optional cap `max_off`; a threshold
    coupon takes `value` off a price of at least `min_spend`. Use: a fixed
    window (use_start, use_end) or `valid_days` after the claim; a session or
    lot coupon with neither lasts until its session's end + COUPON_EXPIRE_SECONDS."""
    title: Text
    cover: Url = ""
    scope: Literal["general", "auction", "lot"] = "general"
    auction_id: RefId = ""
    lot_id: RefId = ""
    kind: Literal["cash", "threshold", "discount"]
    value: whole(gt=0, le=MAX_CENTS)
    min_spend: CentsOrZero = 0
    max_off: CentsOrZero = 0
    count: whole(ge=1, le=1_000_000)
    claim_start: Time
    claim_end: Time
    use_start: Time | None = None
    use_end: Time | None = None
    valid_days: whole(ge=0, le=3650) = 0


CouponEdit = partial(CouponCreate)
