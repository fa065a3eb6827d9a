"""The configurable terms of the house (from Settings), in one value the use
cases take: nothing in domain/ reads the environment."""
from typing import NamedTuple

DAY_MS = 86400 * 1000


class Rules(NamedTuple):
    pay_seconds: int = 86400        # a winner's time to pay
    ban_days: float = 30            # how long a winner who let a lot go overdue may not bid
    offer_seconds: int = 86400      # a runner-up's time to accept a second-chance offer
    coupon_expire_seconds: int = 86400  # a session's coupons last this long after the session ends

    @property
    def pay_ms(self) -> int:
        return self.pay_seconds * 1000

    @property
    def offer_ms(self) -> int:
        return self.offer_seconds * 1000

    @property
    def ban_ms(self) -> int:
        return int(self.ban_days * DAY_MS)

    @property
    def coupon_expire_ms(self) -> int:
        return self.coupon_expire_seconds * 1000
