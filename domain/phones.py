"""Phone numbers as one account each: a Chinese mobile number written any of
the usual ways (`13900000009`, `+86 139 0000 0009`, `013900000009`,
`8613900000009`, `0086-139-0000-0009`) is the same 11 digits."""
import re

from domain.errors import OutOfRange

SEPARATORS = re.compile(r"[ \-().]")
MOBILE = re.compile(r"1[3-9][0-9]{9}")
PREFIXES = ("+86", "0086", "86", "0")


def normalise(raw: str) -> str:
    """The 11-digit mobile number, or OutOfRange (422) for what is not one."""
    digits = SEPARATORS.sub("", raw)
    if MOBILE.fullmatch(digits):
        return digits
    for prefix in PREFIXES:
        if digits.startswith(prefix) and MOBILE.fullmatch(digits[len(prefix):]):
            return digits[len(prefix):]
    raise OutOfRange("phone must be a mainland China mobile number, such as 13900000009 or +86 139 0000 0009")


def try_normalise(raw: str) -> str | None:
    """The normal form, or None: for data stored before phones were normalised."""
    try:
        return normalise(raw)
    except OutOfRange:
        return None
