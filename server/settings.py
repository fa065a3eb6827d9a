"""Every setting the server reads, from the environment and the command line,
in one place (spec/api.md, "Configuration the server reads")."""
import argparse
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# A gateway is live with all of its settings, in sandbox with none (README, "Payment gateways").
WECHATPAY_LIVE = ("wechatpay_mchid", "wechatpay_appid", "wechatpay_apiv3_key", "wechatpay_platform_public_key",
                  "wechatpay_platform_serial", "wechatpay_private_key", "wechatpay_cert_serial")
ALIPAY_LIVE = ("alipay_app_id", "alipay_app_private_key", "alipay_public_key")


class Settings(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)  # a refused setting must not print the keys beside it

    port: int = Field(8888, ge=0, le=65535)
    host: str = "0.0.0.0"
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


_FLAGS = {"port": int, "data_dir": str, "mongodb_url": str, "redis_url": str, "host": str}


def load_settings(argv: list[str] | None = None, env: dict | None = None) -> Settings:
    """Environment first (upper-case names), then flags override."""
    env = os.environ if env is None else env
    values: dict = {}
    for name, field in Settings.model_fields.items():
        raw = env.get(name.upper())
        if raw is None or raw == "":
            continue
        if name == "allowed_origins":
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
