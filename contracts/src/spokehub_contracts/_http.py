"""The spoke toolkit's HTTP client: one place that gets vendor HTTP right.

:class:`SpokeClient` wraps ``httpx.AsyncClient`` and ``tenacity`` so that every spoke
behaves the same towards the hub and towards the vendor:

- it keeps to the spoke's declared :class:`~spokehub_contracts.RateLimit`, shared by every
  concurrent caller of one client;
- it turns every response into either an ``httpx.Response`` (2xx) or one of the contract
  errors: ``AuthError`` (401/403), ``Throttled`` (429, or a vendor's own throttle signal),
  ``TransientError`` (5xx, 408, timeouts, connection errors) or ``PermanentError`` (any
  other status, carrying the vendor's explanation);
- it retries ``Throttled`` (after the vendor's ``Retry-After``) and ``TransientError``
  (exponential backoff with jitter) a bounded number of times, then lets the error out so
  the hub can schedule the item;
- no exception message or log line it writes holds a credential, a query string or a raw
  e-mail address or phone number.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as _json
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import pydantic_core

if TYPE_CHECKING:
    # httpx and tenacity are imported where a client is built and a request sent, not
    # here: a process that only reads spokes (``spokehub config validate``) never pays for
    # them, while every spoke may still import this toolkit at its head.
    import httpx
    from pydantic import SecretStr
    from tenacity import RetryCallState

from ._errors import AuthError, PermanentError, Throttled, TransientError
from ._redact import MASK, is_sensitive_key, redact
from ._spoke import Capabilities, RateLimit

logger = logging.getLogger("spokehub_contracts.http")


#: Adds authentication headers to a request, at send time. It receives the request (so it
#: can sign the body) and returns the headers to set; reading ``SecretStr`` values here,
#: rather than when the client is built, keeps secrets out of long-lived objects.
AuthHook = Callable[["httpx.Request"], Mapping[str, str]]

#: Reads a vendor-specific throttle signal from a response and answers how many seconds
#: to wait, or ``None`` when the response carries no such signal.
ThrottleSignal = Callable[["httpx.Response"], float | None]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ClientDefaults:
    """What a :class:`SpokeClient` built without its own transport or clock uses instead.

    Set only by the conformance kit (``spokehub_contracts.testing.intercept_clients``), so
    that a spoke's client reaches the vendor's sandbox on a test clock without the spoke
    passing anything through; outside it no client sees a difference.
    """

    transport: httpx.AsyncBaseTransport | None = None
    clock: Clock | None = None
    sleep: Sleep | None = None


CLIENT_DEFAULTS: ContextVar[ClientDefaults | None] = ContextVar(
    "spokehub_client_defaults", default=None
)

#: Seconds to connect, and to read, write or wait for a pooled connection.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_TIMEOUT_SECONDS = 30.0
#: Connection pool size: all connections, and those kept alive between requests.
DEFAULT_MAX_CONNECTIONS = 20
DEFAULT_MAX_KEEPALIVE = 10

# Long enough to quote a vendor's reason, short enough for one log line.
_VENDOR_MESSAGE_CHARS = 200
_MESSAGE_KEYS = ("message", "error_description", "error", "detail", "errors", "msg", "title")


def bearer_auth(token: SecretStr) -> AuthHook:
    """An :data:`AuthHook` that sends ``Authorization: Bearer <token>``.

    The secret is read on every request, never stored in plain text by the client.
    """

    def add_header(request: httpx.Request) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {token.get_secret_value()}"}

    return add_header


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value.

    Accepts both forms of RFC 9110: a number of seconds (``"120"``) or an HTTP-date
    (``"Wed, 21 Oct 2026 07:28:00 GMT"``, measured from ``now``, default the current
    time). A date in the past means zero. Returns ``None`` for a missing or unreadable value.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def encode_json(value: Any) -> bytes:
    """``value`` as the compact UTF-8 JSON that ``SpokeClient``'s ``json=`` sends.

    Compact JSON as httpx (0.28) writes for plain data, written by pydantic-core,
    several times faster than the standard library; pydantic models (a batch of
    ``Change``) may be passed as they are and go out as ``model_dump(mode="json")``
    would give them (field names, not aliases), without the intermediate dicts. As with
    httpx, a NaN or infinite number is refused with ``ValueError``: JSON cannot carry it.
    """
    body = pydantic_core.to_json(value, by_alias=False)
    if b"NaN" in body or b"Infinity" in body:
        # Perhaps only inside a string; the standard encoder tells the two apart.
        plain = pydantic_core.to_jsonable_python(value, by_alias=False)
        text = _json.dumps(plain, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        body = text.encode("utf-8")
    return body


class RateLimiter:
    """Keeps every caller of one client within a :class:`~spokehub_contracts.RateLimit`.

    A token bucket of ``requests`` tokens in which each spent token returns ``per_seconds``
    after it was spent: a burst may use the whole budget at once, and no window of
    ``per_seconds`` ever holds more than ``requests`` acquisitions. Waiters are served in
    arrival order. Without a budget it only enforces :meth:`defer`.

    :param clock: monotonic time in seconds; the running event loop's clock by default.
    :param sleep: how to wait; ``asyncio.sleep`` by default. Tests pass a fake pair.
    """

    def __init__(
        self,
        rate_limit: RateLimit | None = None,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.rate_limit = rate_limit
        self._clock = clock
        self._sleep: Sleep = sleep or asyncio.sleep
        self._spent: deque[float] = deque()
        self._resume_at = -math.inf
        self._lock = asyncio.Lock()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def acquire(self) -> None:
        """Wait until one more request fits the budget, and count it."""
        async with self._lock:
            while True:
                now = self._now()
                wait = self._resume_at - now
                if self.rate_limit is not None:
                    window = self.rate_limit.per_seconds
                    while self._spent and self._spent[0] <= now - window:
                        self._spent.popleft()
                    if len(self._spent) >= self.rate_limit.requests:
                        wait = max(wait, self._spent[0] + window - now)
                if wait <= 0:
                    break
                await self._sleep(wait)
            if self.rate_limit is not None:
                self._spent.append(now)

    def defer(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` from now (the vendor asked us to wait)."""
        if seconds > 0:
            self._resume_at = max(self._resume_at, self._now() + seconds)


class SpokeClient:
    """An async HTTP client for one vendor connection.

    :param base_url: the vendor's API root; relative request URLs are joined to it.
    :param headers: sent with every request. Keep credentials out of here and use ``auth``.
    :param auth: an :data:`AuthHook` called on every attempt to add credentials.
    :param rate_limit: the vendor's budget; every attempt, retries included, counts.
    :param timeout: connect 5 s and read/write/pool 30 s when not given (or ``None``).
    :param limits: connection pool size; 20 connections, 10 kept alive when not given.
    :param attempts: how many times one request is tried in all (``1`` disables retries).
    :param backoff: first backoff in seconds after a transient error; doubles per attempt,
        with jitter, up to ``max_backoff``.
    :param max_retry_after: the longest ``Retry-After`` the client waits out itself; a
        longer one is raised as ``Throttled`` at once for the hub to schedule.
    :param default_retry_after: the wait when a 429 names none.
    :param throttle_signal: reads vendor-specific throttle headers. On an error response a
        number means ``Throttled`` after that many seconds (even for a 403, as some vendors
        answer); on a 2xx response the response is returned and the client holds back its
        next requests for that long.
    :param transport: an ``httpx`` transport, for tests (``FaultInjectingTransport``).
    :param clock: monotonic clock for the rate limiter; the event loop's by default.
    :param sleep: how to wait between attempts; ``asyncio.sleep`` by default. The rate
        limiter waits with it too when ``clock`` is also given (a fake time for tests).

    Use it as an async context manager, or call :meth:`aclose`. One client belongs to one
    event loop. Retried requests are sent again whole, so pass bodies as ``json``,
    ``content`` (bytes) or ``data``, not as streams.
    """

    def __init__(
        self,
        base_url: str | httpx.URL = "",
        *,
        headers: Mapping[str, str] | None = None,
        auth: AuthHook | None = None,
        rate_limit: RateLimit | None = None,
        timeout: httpx.Timeout | float | None = None,
        limits: httpx.Limits | None = None,
        attempts: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 60.0,
        default_retry_after: float = 1.0,
        throttle_signal: ThrottleSignal | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "spokehub",
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        import httpx

        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if timeout is None:
            timeout = httpx.Timeout(DEFAULT_TIMEOUT_SECONDS, connect=DEFAULT_CONNECT_TIMEOUT)
        if limits is None:
            limits = httpx.Limits(
                max_connections=DEFAULT_MAX_CONNECTIONS,
                max_keepalive_connections=DEFAULT_MAX_KEEPALIVE,
            )
        defaults = CLIENT_DEFAULTS.get()
        if defaults is not None:
            transport = transport or defaults.transport
            if clock is None and defaults.clock is not None:
                clock, sleep = defaults.clock, sleep or defaults.sleep
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.default_retry_after = default_retry_after
        self._auth = auth
        self._throttle_signal = throttle_signal
        self._sleep: Sleep = sleep or asyncio.sleep
        # The limiter needs a clock and a sleep that agree: a fake sleep over the real
        # clock would spin. So it only borrows ``sleep`` together with ``clock``.
        self.rate_limiter = RateLimiter(
            rate_limit, clock=clock, sleep=self._sleep if clock is not None else None
        )
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"User-Agent": user_agent, **(headers or {})},
            timeout=timeout,
            limits=limits,
            transport=transport,
            # A redirect could carry our credential headers to another host.
            follow_redirects=False,
        )

    @classmethod
    def from_capabilities(
        cls,
        capabilities: Capabilities,
        *,
        base_url: str | httpx.URL | None = None,
        **kwargs: Any,
    ) -> SpokeClient:
        """A client for a spoke: the declared ``base_url`` unless the connection overrides
        it (a sandbox, an EU host), and the declared rate limit unless ``rate_limit`` is
        passed. Other keyword arguments go to the constructor."""
        chosen = base_url or (str(capabilities.base_url) if capabilities.base_url else "")
        kwargs.setdefault("rate_limit", capabilities.rate_limit)
        return cls(str(chosen), **kwargs)

    @property
    def base_url(self) -> httpx.URL:
        return self._client.base_url

    async def __aenter__(self) -> SpokeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Any = None,
        json: Any = None,
        content: str | bytes | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | float | None = None,
        attempts: int | None = None,
    ) -> httpx.Response:
        """Send a request, retrying throttling and transient failures.

        :param attempts: overrides the client's attempts for this request (``1`` for a
            call that must not be repeated).
        :returns: the 2xx response.
        :raises AuthError: 401/403: the credentials are wrong or lack a permission.
        :raises Throttled: still throttled after the last attempt, or asked to wait
            longer than ``max_retry_after``.
        :raises TransientError: 5xx, 408, timeout or connection failure on the last attempt.
        :raises PermanentError: any other status; ``vendor_message`` holds the reason.
        """
        import httpx

        if json is not None and content is None and data is None:
            # Encoded once for every attempt (see :func:`encode_json`).
            content = encode_json(json)
            json = None
            headers = httpx.Headers(headers)
            headers.setdefault("Content-Type", "application/json")
        send_kwargs: dict[str, Any] = {
            "params": params,
            "json": json,
            "content": content,
            "data": data,
            "headers": headers,
        }
        if timeout is not None:
            send_kwargs["timeout"] = timeout
        tries = attempts or self.attempts
        if tries == 1:
            # Nothing to retry: no retry machinery either.
            return await self._attempt(method, url, send_kwargs)
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

        retrying = AsyncRetrying(
            stop=stop_after_attempt(tries),
            retry=retry_if_exception(self._should_retry),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        response: httpx.Response = await retrying(self._attempt, method, url, send_kwargs)
        return response

    async def _attempt(
        self, method: str, url: str | httpx.URL, send_kwargs: dict[str, Any]
    ) -> httpx.Response:
        import httpx

        await self.rate_limiter.acquire()
        request = self._client.build_request(method, url, **send_kwargs)
        added: dict[str, str] = {}
        if self._auth is not None:
            added = dict(self._auth(request))
            request.headers.update(added)
        try:
            response = await self._client.send(request)
        except httpx.TimeoutException as exc:
            where = _where(request)
            raise TransientError(f"{where} timed out ({type(exc).__name__})") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
            raise TransientError(_failed(request, exc, added)) from None
        except httpx.HTTPError as exc:
            # Unsupported scheme, invalid URL, too many redirects: retrying will not help.
            raise PermanentError(_failed(request, exc, added)) from None
        return self._classify(response, request, added)

    def _classify(
        self, response: httpx.Response, request: httpx.Request, added: Mapping[str, str]
    ) -> httpx.Response:
        status = response.status_code
        signal = self._throttle_signal(response) if self._throttle_signal else None
        if response.is_success:
            if signal is not None:
                self.rate_limiter.defer(signal)
            return response
        # Only a failure is described, so only then are the request's secrets gathered.
        where = _where(request)
        vendor = _vendor_message(response, _secrets(request, added))
        said = f"{where} answered {status} {response.reason_phrase}".rstrip()
        if vendor:
            said = f"{said}: {vendor}"
        if status == 429 or signal is not None:
            retry_after = signal
            if retry_after is None:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is None:
                retry_after = self.default_retry_after
            if retry_after <= self.max_retry_after:
                # Everyone sharing this client waits, not only the caller that was told.
                self.rate_limiter.defer(retry_after)
            raise Throttled(said, retry_after, status_code=status, vendor_message=vendor)
        if status in (401, 403):
            raise AuthError(
                f"{said}; check the connection's credentials and permissions",
                status_code=status,
                vendor_message=vendor,
            )
        if status >= 500 or status == 408:
            raise TransientError(said, status_code=status, vendor_message=vendor)
        if 300 <= status < 400:
            said = f"{said}; redirects are not followed, point base_url at the final address"
        raise PermanentError(said, status_code=status, vendor_message=vendor)

    def _should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, Throttled):
            return exc.retry_after <= self.max_retry_after
        return isinstance(exc, TransientError)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Throttled):
            return exc.retry_after
        # "Equal jitter": at least half the exponential step, so retries keep backing off,
        # and a random rest, so concurrent callers do not retry in lockstep.
        step = min(self.max_backoff, self.backoff * 2 ** (state.attempt_number - 1))
        return step / 2 + random.uniform(0, step / 2)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        status = getattr(exc, "status_code", None)
        logger.info(
            "retrying in %.2fs after %s%s (attempt %d)",
            wait,
            type(exc).__name__,
            f" {status}" if status else "",
            state.attempt_number,
        )


def _safe_url(url: httpx.URL) -> str:
    # The query string is where vendors put API keys and where e-mails end up as search
    # terms; it is dropped whole. The path may still name a person (/contacts/ada@…).
    port = f":{url.port}" if url.port else ""
    text = f"{url.scheme}://{url.host}{port}{url.path}"
    return redact(text) + ("?…" if url.query else "")


def _secret_values(headers: Mapping[str, str], *, all_values: bool = False) -> set[str]:
    found: set[str] = set()
    for name, value in headers.items():
        if all_values or is_sensitive_key(name):
            found.add(value)
            # "Bearer abc" is scrubbed as "abc" too, should a vendor echo the bare token
            # (but the scheme word itself is no secret).
            found.update(part for part in value.split()[1:] if len(part) >= 6)
    return {value for value in found if len(value) >= 4}


def _clean(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redact(text)


def _where(request: httpx.Request) -> str:
    return f"{request.method.upper()} {_safe_url(request.url)}"


def _secrets(request: httpx.Request, added: Mapping[str, str]) -> set[str]:
    """What must never be quoted back: sensitive headers, and whatever the auth hook set."""
    return _secret_values(request.headers) | _secret_values(added, all_values=True)


def _failed(request: httpx.Request, exc: Exception, added: Mapping[str, str]) -> str:
    text = _clean(str(exc), _secrets(request, added))
    return f"{_where(request)} failed: {type(exc).__name__} {text}".rstrip()


def _find_message(body: Any, depth: int = 0) -> str | None:
    if depth > 4:
        return None
    if isinstance(body, str):
        return body or None
    if isinstance(body, Mapping):
        for key in _MESSAGE_KEYS:
            if key in body:
                found = _find_message(body[key], depth + 1)
                if found:
                    return found
    if isinstance(body, list) and body:
        return _find_message(body[0], depth + 1)
    return None


def _vendor_message(response: httpx.Response, secrets: set[str]) -> str:
    """The vendor's own reason, from a JSON ``message``/``error``/``detail`` field or else
    the start of the body; secrets and personal data masked, whitespace collapsed."""
    message: str | None = None
    with contextlib.suppress(ValueError):
        message = _find_message(response.json())
    if message is None:
        message = response.text[: _VENDOR_MESSAGE_CHARS * 10]
    message = _clean(" ".join(message.split()), secrets)
    # Truncate only after masking, so a cut never leaves half an address unmasked.
    if len(message) > _VENDOR_MESSAGE_CHARS:
        message = message[: _VENDOR_MESSAGE_CHARS - 1] + "…"
    return message
