"""Redaction of secrets and raw personal data in free text.

Used by the toolkit for exception messages built from vendor responses and by the hub's
log processor, so both mask the same things the same way.
"""

from __future__ import annotations

import re

MASK = "***"

_SENSITIVE_KEY = re.compile(
    r"(secret|token|passw(or)?d|api[_-]?key|authorization|auth|cookie|credential|"
    r"write[_-]?key|private[_-]?key|signature|email|phone)",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{6,}")
_KEYVALUE = re.compile(
    r"(?i)\b(api[_-]?key|access[_-]?token|token|secret|password|write[_-]?key)"
    r"(\"?\s*[=:]\s*\"?)([^\s&\"',;}]+)"
)
# Seven or more digits, optionally led by '+' and broken by spaces, dots, dashes or
# parentheses: phone numbers in any common format. Timestamps and short ids survive.
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d(?:[\s().\-]?\d){6,14}(?![\w])")


def is_sensitive_key(key: str) -> bool:
    """True if a mapping key names a secret or a direct identifier (``api_key``, ``email``)."""
    return bool(_SENSITIVE_KEY.search(key))


def redact(text: str) -> str:
    """Mask e-mail addresses, phone numbers, bearer/basic credentials and ``key=value``
    secrets inside ``text``."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _KEYVALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _EMAIL.sub(MASK, text)
    return _PHONE.sub(MASK, text)
