"""Every setting the server reads, from the environment and the command line,
in one place (the README's configuration table)."""
import argparse
import ipaddress
import os
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.accounts import TokenLife
from domain.logins import LoginLimits

LOOPBACK_NAMES = ("localhost",)

# A gateway is live with all of its settings, in sandbox with none (README, "Payment gateways").
WECHATPAY_LIVE = ("wechatpay_mchid", "wechatpay_appid", "wechatpay_apiv3_key", "wechatpay_platform_public_key",
                  "wechatpay_platform_serial", "wechatpay_private_key", "wechatpay_cert_serial")
ALIPAY_LIVE = ("alipay_app_id", "alipay_app_private_key", "alipay_public_key")


class Settings(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)  # a refused setting must not print the keys beside it

    port: int = Field(8888, ge=0, le=65535)
    host: str = ""  # "": all addresses, or loopback only while the SMS sandbox is on by default
    mongodb_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "gavel:"
    data_dir: Path = Path("./data")
    admin_token: str = ""
    sms_sandbox: bool | None = None  # None: on exactly when the store is embedded
    order_pay_seconds: int = Field(86400, gt=0)
    offer_accept_seconds: int = Field(86400, gt=0)
    coupon_expire_seconds: int = Field(86400, gt=0)
    payment_timeout_seconds: int = Field(900, gt=0)
    credit_to_money: int = Field(10, gt=0, le=10000)   # credits worth one yuan at checkout
    credits_per_yuan: int = Field(1, ge=0, le=10000)   # credits earned per yuan paid
    # Gateways without keys take payments only when this is on (they are free money otherwise).
    payment_sandbox: bool | None = None  # None: on exactly when the store is embedded
    public_url: str = ""  # where the gateways reach us (notify and return URLs); "": the request's own host
    start_balance: int = Field(100000, ge=0)
    overdue_ban_days: float = Field(30, ge=0)
    # Browser origins allowed to open /ws (comma-separated). Empty: same host only.
    allowed_origins: list[str] = []
    ws_max_message: int = Field(4096, gt=0)
    ws_max_buffer: int = Field(256 * 1024, gt=0)
    bid_rate_per_second: float = Field(10, gt=0)        # per socket and per user, burst twice that
    ws_messages_per_second: float = Field(50, gt=0)     # any message, per socket
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    max_upload_bytes: int = Field(8 * 1024 * 1024, gt=0)
    recovery_interval_s: float = Field(60, gt=0)
    log_level: str = "INFO"
    # The edge (docs/security.md says what each is for).
    trusted_proxies: list[str] = []                     # addresses / networks whose X-Forwarded-For names the client
    token_idle_seconds: int = Field(30 * 86400, gt=0)   # a login token ends this long unused
    token_max_seconds: int = Field(90 * 86400, gt=0)    # and this long after login in any case
    body_timeout_s: float = Field(60, gt=0)             # a request body must be in within this
    ws_connects_per_second: float = Field(20, gt=0)     # new sockets per client address, per node (burst 5 s' worth)
    ws_max_subscriptions: int = Field(100, gt=0)        # lots and sessions one socket may watch
    metrics_token: str = ""                             # if set, /metrics wants `Authorization: Bearer …`
    metrics_allow: list[str] = []                       # if set, /metrics answers only these addresses / networks
    login_code_interval_s: int = Field(60, ge=0)
    login_codes_per_phone_hour: int = Field(5, gt=0)
    login_codes_per_phone_day: int = Field(10, gt=0)
    login_codes_per_address_hour: int = Field(30, gt=0)
    login_free_guesses: int = Field(5, gt=0)
    login_backoff_max_s: int = Field(900, gt=0)

    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""
    wechatpay_apiv3_key: str = ""
    wechatpay_platform_public_key: str = ""     # PEM file: the platform public key (or certificate)
    wechatpay_platform_serial: str = ""         # its id, as Wechatpay-Serial names it
    wechatpay_private_key: str = ""             # PEM file: the merchant API private key
    wechatpay_cert_serial: str = ""             # serial of the merchant API certificate
    wechatpay_api_base: str = "https://api.mch.weixin.qq.com"
    alipay_app_id: str = ""
    alipay_app_private_key: str = ""            # PEM file
    alipay_public_key: str = ""                 # PEM file: Alipay's public key
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"
    gateway_timeout_s: float = Field(10, gt=0)
    demo: bool = False  # seed a live auction with simulated bidders (server/demo.py)

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            ipaddress.ip_network(entry, strict=False)  # ValueError names the bad one
        return entries

    @model_validator(mode="after")
    def _sandbox_stays_local(self) -> "Settings":
        if self.sandbox_by_default and self.host and not is_loopback(self.host):
            raise ValueError(f"the SMS sandbox is on by default (no MONGODB_URL), and it gives anyone a login code: "
                             f"it listens on loopback only. Set SMS_SANDBOX=1 to serve it on {self.host} all the same, "
                             f"or SMS_SANDBOX=0")
        return self

    @model_validator(mode="after")
    def _gateways_all_or_nothing(self) -> "Settings":
        for group in (WECHATPAY_LIVE, ALIPAY_LIVE):
            missing = [name.upper() for name in group if not getattr(self, name)]
            if 0 < len(missing) < len(group):
                raise ValueError(f"set all of {', '.join(n.upper() for n in group)} or none; missing {missing}")
        if self.wechatpay_apiv3_key and len(self.wechatpay_apiv3_key.encode()) != 32:
            raise ValueError("WECHATPAY_APIV3_KEY must be 32 bytes")
        return self

    @property
    def embedded_store(self) -> bool:
        return not self.mongodb_url

    @property
    def wechatpay_live(self) -> bool:
        return bool(self.wechatpay_mchid)

    @property
    def alipay_live(self) -> bool:
        return bool(self.alipay_app_id)

    @property
    def sandbox_payments(self) -> bool:
        return self.embedded_store if self.payment_sandbox is None else self.payment_sandbox

    @property
    def sandbox_sms(self) -> bool:
        return self.embedded_store if self.sms_sandbox is None else self.sms_sandbox

    @property
    def body_ceiling(self) -> int:
        """The most of a body the server reads, whatever the route (uploads, and their multipart framing)."""
        return self.max_upload_bytes + 64 * 1024

    @property
    def sandbox_by_default(self) -> bool:
        """On without being asked for: then the server keeps to loopback."""
        return self.sms_sandbox is None and self.embedded_store

    @property
    def listen_host(self) -> str:
        return self.host or ("127.0.0.1" if self.sandbox_by_default else "0.0.0.0")

    @cached_property
    def trusted_networks(self) -> tuple:
        return tuple(ipaddress.ip_network(e, strict=False) for e in self.trusted_proxies)

    @cached_property
    def metrics_networks(self) -> tuple:
        return tuple(ipaddress.ip_network(e, strict=False) for e in self.metrics_allow)

    @property
    def login_limits(self) -> LoginLimits:
        return LoginLimits(self.login_code_interval_s * 1000, self.login_codes_per_phone_hour,
                           self.login_codes_per_phone_day, self.login_codes_per_address_hour, self.login_free_guesses,
                           self.login_backoff_max_s * 1000, self.sandbox_sms)

    @property
    def token_life(self) -> TokenLife:
        return TokenLife(self.token_idle_seconds * 1000, self.token_max_seconds * 1000)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() in LOOPBACK_NAMES


_FLAGS = {"port": int, "data_dir": str, "mongodb_url": str, "redis_url": str, "host": str}


def load_settings(argv: list[str] | None = None, env: dict | None = None) -> Settings:
    """Environment first (upper-case names), then flags override."""
    env = os.environ if env is None else env
    values: dict = {}
    for name, field in Settings.model_fields.items():
        raw = env.get(name.upper())
        if raw is None or raw == "":
            continue
        if field.annotation == list[str]:
            values[name] = [o.strip() for o in raw.split(",") if o.strip()]
        elif name in ("sms_sandbox", "payment_sandbox"):
            values[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        else:
            values[name] = raw
    parser = argparse.ArgumentParser(prog="gavel", description="Gavel auction server")
    for name, kind in _FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind)
    parser.add_argument("--demo", dest="demo", action="store_true", default=None, help="seed a live demo auction")
    args = parser.parse_args(argv)
    values.update({k: v for k, v in vars(args).items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SystemExit(f"bad configuration: {exc}") from None
