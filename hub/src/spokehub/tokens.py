"""API tokens by name, each with its scopes, found with the same work whether or not a
token exists; and the rule that keeps a weak token off the network.

A token is configured in ``server.tokens`` by name: its scopes and either the token itself
(``token: ${ENV}``, read from the environment) or its SHA-256 (``sha256:``, what ``spokehub
tokens new`` prints), so the project file never holds a usable secret. ``server.admin_token``
is the operator's token and holds every scope.

A presented token is hashed once and looked up by digest, then compared with
:func:`hmac.compare_digest`, as write keys are (see :mod:`spokehub.write_keys`): the
time an answer takes tells nothing about how close a guess was. A plain SHA-256 is
enough because tokens are random (32 bytes from :func:`secrets.token_urlsafe`), not
passwords a dictionary could find.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from hmac import compare_digest
from typing import Literal, get_args

#: What a token may do. ``admin`` is the hub's own operation (``/metrics``); it does not
#: imply the others: a token that needs them lists them.
Scope = Literal["profiles:read", "profiles:write", "privacy", "deliveries", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)

#: The name ``server.admin_token`` is known by in logs and audit records.
ADMIN_TOKEN_NAME = "admin_token"

#: Tokens and write keys that ship in examples and starters: known to everyone.
KNOWN_DEFAULTS = frozenset({"change-me", "website-dev-key", "changeme", "secret", "admin"})
#: The shortest token a hub reachable from other machines accepts, in bytes.
MIN_EXPOSED_TOKEN_BYTES = 32


def token_digest(token: str) -> str:
    """The hex SHA-256 of a token, as ``server.tokens.<name>.sha256`` holds it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Grant:
    """Who a presented token belongs to and what it may do."""

    name: str
    scopes: frozenset[str]


_NO_ENTRY: tuple[bytes, Grant | None] = (bytes(32), None)


class TokenTable:
    """The API tokens of a project.

    :param tokens: ``(name, hex sha256, scopes)``; when two names share a digest the first
        keeps it (the project file's validation refuses that anyway).
    """

    def __init__(self, tokens: Iterable[tuple[str, str, Iterable[str]]]) -> None:
        self._by_digest: dict[bytes, tuple[bytes, Grant | None]] = {}
        for name, digest, scopes in tokens:
            raw = bytes.fromhex(digest)
            self._by_digest.setdefault(raw, (raw, Grant(name, frozenset(scopes))))

    def __bool__(self) -> bool:
        return bool(self._by_digest)

    def grant(self, token: str) -> Grant | None:
        """The grant of ``token``, or ``None``; the same steps either way. An empty token
        is never anyone's."""
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        known, grant = self._by_digest.get(digest, _NO_ENTRY)
        return grant if compare_digest(digest, known) and token else None


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server to this machine."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def weak_credentials(
    tokens: Iterable[tuple[str, str]], write_keys: Iterable[tuple[str, str]]
) -> list[str]:
    """Why the credentials are unfit for a hub other machines can reach, one line each
    naming where the credential is configured (never the credential).

    :param tokens: ``(where, token)`` of each token configured in plain text.
    :param write_keys: ``(where, key)`` of each source's write key; only a known default
        is refused, since browser write keys are public by design (analytics.js).
    """
    problems: list[str] = []
    for where, token in tokens:
        if token.strip().lower() in KNOWN_DEFAULTS:
            problems.append(f"{where} is a token known to be a default")
        elif len(token.encode("utf-8")) < MIN_EXPOSED_TOKEN_BYTES:
            problems.append(f"{where} is shorter than {MIN_EXPOSED_TOKEN_BYTES} bytes")
    for where, key in write_keys:
        if key.strip().lower() in KNOWN_DEFAULTS:
            problems.append(f"{where} is a write key known to be a default")
    return problems
