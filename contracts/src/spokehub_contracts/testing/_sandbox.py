"""The server base every vendor sandbox is built on.

A sandbox is a small stand-in for a vendor's API, written from the vendor's documented
request and response shapes: its routes, its paging, its error bodies, its 401 and its own
throttle answer. The base gives each one the same machinery:

- routes declared with :func:`route` on methods of a :class:`Sandbox` subclass, with
  ``{name}`` path parameters, authentication (``authorized``) and rate limiting applied
  before the route runs;
- a request log (:attr:`Sandbox.requests`) with the time of each request on the sandbox's
  clock, its answer, and how many items it carried;
- scripted and random faults (:class:`SandboxFaults`): throttling in the vendor's shape,
  error statuses, timeouts, dropped connections, malformed JSON, partial failures, slow
  answers, and duplicated or reordered pages;
- serving on 127.0.0.1 only, in a thread (``with AcmeSandbox() as acme: acme.url``), in
  process as an httpx transport on a test clock (:meth:`Sandbox.transport`), or as a
  process of its own (``python -m spokehub_contracts.testing.sandbox module:Class``).

Routes are plain functions run one at a time under :attr:`Sandbox.lock`, so a sandbox's
state needs no locking of its own; delays and held answers happen outside the lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import httpx

from .._spoke import RateLimit, WebhookRequest
from ._serving import HOST, POLL, SandboxTransport, Server
from ._transport import Fault
from ._wire import Dropped, Held, SandboxRequest, SandboxResponse

T = TypeVar("T")

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")


@dataclass
class SandboxFaults:
    """What goes wrong at the sandbox, and when.

    :param script: faults for the next requests, one each, in order (``Fault`` objects or
        their strings: ``"429"``, ``"500"``, ``"vendor_throttle"``, ``"timeout"``,
        ``"connect_error"``, ``"malformed_json"``, ``"partial"``, ``"slow"``, ``"pass"``).
        A ``partial`` fault waits in the script for the next request whose route can
        answer it (one that calls :meth:`Sandbox.partial_failures`).
    :param odds: fault string to the chance that a request without a scripted fault gets
        it (soak tests), drawn from a generator seeded with ``seed``.
    :param latency: seconds every request waits before it is answered.
    :param retry_after: the wait a throttle fault names when it names none of its own.
    :param slow_seconds: how late a ``slow`` fault answers.
    :param timeout_seconds: how long a served request with a ``timeout`` fault is held
        before a 504 (in process, the client's timeout is raised at once instead).
    """

    script: deque[Fault | str] = field(default_factory=deque)
    odds: dict[str, float] = field(default_factory=dict)
    latency: float = 0.0
    retry_after: float = 1.0
    slow_seconds: float = 10.0
    timeout_seconds: float = 30.0
    seed: int = 7


@dataclass(frozen=True)
class Page:
    """One page of a list, as :meth:`Sandbox.paginate` serves it.

    :ivar items: what the page holds.
    :ivar start: the position of its first item in the list.
    :ivar next_start: where the next page starts, ``None`` after the last page. Encode it
        in the vendor's form: an offset, a page number, an opaque cursor.
    """

    items: list[Any]
    start: int
    next_start: int | None


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: str
    auth: bool
    budget: str
    faults: bool


def route(
    method: str, path: str, *, auth: bool = True, budget: str = "default", faults: bool = True
) -> Callable[[Callable[..., SandboxResponse]], Callable[..., SandboxResponse]]:
    """Declare a sandbox method as the answer to ``method path``::

        @route("POST", "/crm/v3/objects/{object_type}/batch/upsert")
        def upsert(self, request: SandboxRequest) -> SandboxResponse: ...

    ``{name}`` matches one path segment, ``{name:path}`` the rest of the path; the values
    are in ``request.params``. With ``auth`` (the default) a request that
    :meth:`Sandbox.authorized` refuses gets :meth:`Sandbox.auth_failed_response`. Requests
    count against the sandbox's rate limit named ``budget`` (see ``rate_limit``). A route
    with ``faults=False`` (a credentials probe, say) draws no fault from the script.
    """

    def mark(function: Callable[..., SandboxResponse]) -> Callable[..., SandboxResponse]:
        marks = list(getattr(function, "__sandbox_routes__", ()))
        marks.append((method.upper(), path, auth, budget, faults))
        function.__sandbox_routes__ = marks  # type: ignore[attr-defined]
        return function

    return mark


def _compile(template: str) -> re.Pattern[str]:
    out, last = [], 0
    for match in _PARAM.finditer(template):
        out.append(re.escape(template[last : match.start()]))
        expression = ".+" if match.group(2) else "[^/]+"
        out.append(f"(?P<{match.group(1)}>{expression})")
        last = match.end()
    out.append(re.escape(template[last:]))
    return re.compile("".join(out) + "$")


@dataclass
class _Plan:
    """What the sandbox decided for a request before any waiting."""

    response: SandboxResponse | None = None
    delay: float = 0.0
    route: _Route | None = None


class Sandbox:
    """Base of a vendor's sandbox. Subclass it, declare routes with :func:`route`, and
    override the answers that have a vendor shape::

        class AcmeSandbox(Sandbox):
            name = "acme"
            tokens = ("acme-test-token",)
            max_batch = 100

            @route("POST", "/v2/contacts/batch")
            def contacts(self, request):
                items = request.json()["contacts"]
                if refusal := self.check_batch(request, len(items)):
                    return refusal
                ...
                return SandboxResponse.json({"results": results})

    :param rate_limit: the vendor's budget, enforced on arrivals in a sliding window: a
        request beyond it gets :meth:`throttle_response`. A mapping names budgets per
        route group (``route(budget=...)``); ``"default"`` is every other route's.
    :param faults: what goes wrong and when (:class:`SandboxFaults`).
    :param clock: monotonic seconds; a :class:`FakeClock` in tests so the log shows when
        a client on that clock sent each request.
    :param tokens: the credentials :meth:`authorized` accepts (the class's by default).
    :param keep_bodies: keep request bodies in the log (off for long benchmark runs).
    """

    #: Names the sandbox in messages and ``python -m`` output.
    name: ClassVar[str] = "sandbox"
    #: The bearer tokens accepted by default; empty means every request is authorized.
    tokens: ClassVar[tuple[str, ...]] = ()
    #: The vendor's documented most items per request, if it has one.
    max_batch: ClassVar[int | None] = None
    #: Whether the vendor's webhook signature covers a timestamp that receivers check,
    #: so that a stale one must be refused.
    webhook_timestamped: ClassVar[bool] = False

    _routes: ClassVar[tuple[_Route, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: list[_Route] = []
        seen: set[str] = set()
        for klass in cls.__mro__:
            for attr, value in vars(klass).items():
                if attr in seen:
                    continue
                seen.add(attr)
                for method, template, *rest in getattr(value, "__sandbox_routes__", ()):
                    found.append(_Route(method, template, _compile(template), attr, *rest))
        cls._routes = tuple(found)

    def __init__(
        self,
        *,
        rate_limit: RateLimit | Mapping[str, RateLimit] | None = None,
        faults: SandboxFaults | None = None,
        clock: Callable[[], float] | None = None,
        tokens: Sequence[str] | None = None,
        keep_bodies: bool = True,
    ) -> None:
        if isinstance(rate_limit, RateLimit):
            rate_limit = {"default": rate_limit}
        self.rate_limits: dict[str, RateLimit] = dict(rate_limit or {})
        self.faults = faults or SandboxFaults()
        self.clock: Callable[[], float] = clock or time.monotonic
        self.accepted_tokens: set[str] = set(self.tokens if tokens is None else tokens)
        self.keep_bodies = keep_bodies
        #: Every request, in arrival order (built-in ``/_sandbox`` routes excepted).
        self.requests: list[SandboxRequest] = []
        #: How often each status was answered.
        self.answers: Counter[int] = Counter()
        #: Requests answered with a throttle because they were over the rate limit.
        self.rate_rejections = 0
        #: Pages served altered by :meth:`alter_page`.
        self.altered_pages = 0
        #: Serializes routes and the sandbox's own bookkeeping.
        self.lock = threading.RLock()
        self._rng = random.Random(self.faults.seed)
        self._windows: dict[str, deque[float]] = {}
        self._page_calls = 0
        self._page_faults: dict[int, str] = {}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- serving -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` while serving."""
        if self._server is None:
            raise RuntimeError(f"the {self.name} sandbox is not serving: call start()")
        return f"http://{HOST}:{self.port}"

    def start(self, port: int = 0) -> Sandbox:
        """Serve on 127.0.0.1 (a free port unless ``port`` is given) in a thread of its
        own, so a test's event loop never slows it; returns the sandbox."""
        if self._server is not None:
            return self
        server = Server((HOST, port), self)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL},
            name=f"{self.name}-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def transport(self, *, sleep: Callable[[float], Any] | None = None) -> SandboxTransport:
        """An httpx transport that answers from this sandbox in process, with no socket:
        a ``timeout`` fault raises ``httpx.ReadTimeout`` and ``connect_error`` raises
        ``httpx.ConnectError`` at once; latency and slow answers wait on ``sleep`` (an
        async function; none by default, so a test clock's sleep fits)."""
        return SandboxTransport(self, sleep=sleep)

    @classmethod
    def main(cls, argv: Sequence[str] | None = None) -> None:
        """Serve this sandbox from the command line (``python -m`` on a sandbox module
        calls it): prints its URL on the first line, then serves until interrupted."""
        from .sandbox import serve

        serve(cls, argv)

    # -- scripting ---------------------------------------------------------------------

    def add_faults(self, *faults: Fault | str) -> None:
        """Append faults to the script: one per request, in order."""
        with self.lock:
            self.faults.script.extend(faults)

    def alter_page(self, kind: str, call: int = 2) -> None:
        """Alter the ``call``-th page :meth:`paginate` serves from now on (1 = the next):
        ``"duplicate"`` serves the page before it again, with a next position pointing
        back at the page asked for (a page served twice); ``"reorder"`` serves the page
        asked for with its items in reverse order."""
        if kind not in ("duplicate", "reorder"):
            raise ValueError(f"unknown page alteration {kind!r}: use 'duplicate' or 'reorder'")
        with self.lock:
            self._page_faults[self._page_calls + call] = kind

    # -- the log -----------------------------------------------------------------------

    @property
    def arrivals(self) -> list[float]:
        """Arrival times of every logged request, on the sandbox's clock."""
        with self.lock:
            return [r.at for r in self.requests]

    def requests_to(self, path: str | None = None, *, method: str | None = None) -> list[Any]:
        """Logged requests whose route template (or, failing that, path) is ``path``."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (path is None or path in (r.route, r.path))
                and (method is None or r.method == method.upper())
            ]

    def max_in_window(self, seconds: float = 1.0, *, after: float = -float("inf")) -> int:
        """The most requests that arrived within any window of ``seconds`` (half-open, as
        a rate limit counts them), among those that arrived at or after ``after``."""
        return max_in_window([t for t in self.arrivals if t >= after], seconds)

    def stats(self) -> dict[str, Any]:
        """What the sandbox saw, as JSON-ready data; ``GET /_sandbox/stats`` answers it
        (for a caller in another process). Subclasses add their own figures."""
        with self.lock:
            windows = {
                name: self.max_in_window(limit.per_seconds)
                for name, limit in self.rate_limits.items()
            }
            return {
                "requests": len(self.requests),
                "arrivals": self.arrivals,
                "answers": {str(k): v for k, v in self.answers.items()},
                "rate_rejections": self.rate_rejections,
                "max_in_window": windows.get("default"),
            }

    # -- vendor shapes: override these -------------------------------------------------

    def authorized(self, request: SandboxRequest) -> bool:
        """Whether the request carries an accepted credential: by default a bearer token
        in ``Authorization`` from :attr:`accepted_tokens`, or anything when none is set."""
        if not self.accepted_tokens:
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token in self.accepted_tokens

    def auth_failed_response(self, request: SandboxRequest) -> SandboxResponse:
        """The vendor's answer to a missing or wrong credential."""
        return SandboxResponse.json({"message": "invalid credentials"}, status=401)

    def throttle_response(self, request: SandboxRequest, retry_after: float) -> SandboxResponse:
        """The vendor's answer to a client over its budget, asking it to wait
        ``retry_after`` seconds (a 429 with ``Retry-After`` by default)."""
        return SandboxResponse.json(
            {"message": "rate limit exceeded"},
            status=429,
            headers={"Retry-After": _seconds(retry_after)},
        )

    def error_response(self, request: SandboxRequest, status: int) -> SandboxResponse:
        """The vendor's answer on an injected error status (500, 503, 401, …)."""
        return SandboxResponse.json({"message": "injected failure"}, status=status)

    def batch_too_large_response(self, request: SandboxRequest, count: int) -> SandboxResponse:
        """The vendor's answer to a request with more items than :attr:`max_batch`."""
        return SandboxResponse.json(
            {"message": f"too many items: {count}, at most {self.max_batch} per request"},
            status=400,
        )

    def not_found_response(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            {"message": f"no route for {request.method} {request.path}"}, status=404
        )

    # -- helpers for routes ------------------------------------------------------------

    def check_batch(self, request: SandboxRequest, count: int) -> SandboxResponse | None:
        """Count the request's items into the log; answer the vendor's refusal if there
        are more than :attr:`max_batch`, else ``None``."""
        request.items = count
        if self.max_batch is not None and count > self.max_batch:
            return self.batch_too_large_response(request, count)
        return None

    def partial_failures(self, request: SandboxRequest, count: int) -> set[int]:
        """The positions of the request's items to refuse: every third one when the
        request drew a ``partial`` fault, none otherwise. The route answers them in the
        vendor's shape; the count goes into the log."""
        failed: set[int] = set()
        if request.fault is not None and request.fault.kind == "partial":
            failed = set(range(0, count, 3))
            request.fault = None  # answered: it does not wait for another route
        request.refused = len(failed)
        return failed

    def paginate(self, request: SandboxRequest, items: Sequence[T], start: int, size: int) -> Page:
        """The page of ``items`` starting at ``start`` with at most ``size`` items, altered
        as :meth:`alter_page` scripted. Routes that page through this helper get the
        duplicated and reordered pages of the conformance suite for free."""
        with self.lock:
            self._page_calls += 1
            alteration = self._page_faults.pop(self._page_calls, None)
        start = max(0, start)
        if alteration == "duplicate":
            self.altered_pages += 1
            previous = max(0, start - size)
            return Page(list(items[previous : previous + size]), previous, start)
        page = list(items[start : start + size])
        following = start + size if start + size < len(items) else None
        if alteration == "reorder" and len(page) > 1:
            self.altered_pages += 1
            page.reverse()
        return Page(page, start, following)

    # -- webhooks ----------------------------------------------------------------------

    def sign_webhook(self, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
        """The headers that sign ``body`` as the vendor does. The default is an HMAC-SHA256
        over ``"<timestamp>.<body>"``, base64, in ``X-Signature`` with ``X-Timestamp``
        beside it; a vendor's sandbox writes its own scheme."""
        signed = f"{timestamp}.".encode() + body
        digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
        return {
            "X-Timestamp": str(timestamp),
            "X-Signature": base64.b64encode(digest).decode("ascii"),
        }

    def example_webhook(self) -> tuple[bytes, dict[str, str]]:
        """A webhook the vendor sends: its body and the headers besides the signature
        (a topic, an event id)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement example_webhook() to send webhooks"
        )

    def webhook_request(
        self,
        secret: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timestamp: int | None = None,
    ) -> WebhookRequest:
        """A webhook as the vendor sends it, signed with ``secret`` at ``timestamp`` (now
        by default): :meth:`example_webhook` unless ``body`` is given."""
        if body is None:
            body, extra = self.example_webhook()
            headers = {**extra, **(headers or {})}
        moment = int(time.time()) if timestamp is None else timestamp
        signed = {**(headers or {}), **self.sign_webhook(body, secret, moment)}
        return WebhookRequest(headers=signed, body=body)

    def send_webhook(self, url: str, secret: str, *, body: bytes | None = None) -> httpx.Response:
        """POST a signed webhook to ``url`` (a hub's ``/v1/webhooks/{connection}``)."""
        request = self.webhook_request(secret, body=body)
        return httpx.post(url, content=request.body, headers=dict(request.headers), timeout=30)

    # -- dispatch ----------------------------------------------------------------------

    def _match(self, request: SandboxRequest) -> _Route | None:
        allowed = False
        for candidate in self._routes:
            found = candidate.pattern.match(request.path)
            if found is None:
                continue
            allowed = True
            if candidate.method == request.method:
                request.params = found.groupdict()
                request.route = candidate.template
                return candidate
        if allowed:
            request.route = request.path
        return None

    def _over_budget(self, budget: str, now: float) -> float | None:
        limit = self.rate_limits.get(budget)
        if limit is None:
            return None
        window = self._windows.setdefault(budget, deque())
        while window and window[0] <= now - limit.per_seconds:
            window.popleft()
        if len(window) >= limit.requests:
            return window[0] + limit.per_seconds - now
        window.append(now)
        return None

    def _draw_fault(self) -> Fault | None:
        script = self.faults.script
        if script:
            item = script.popleft()
            fault = item if isinstance(item, Fault) else self._parse(item)
            return None if fault.kind == "pass" else fault
        for name, odds in self.faults.odds.items():
            if self._rng.random() < odds:
                return self._parse(name)
        return None

    def _parse(self, text: str) -> Fault:
        fault = Fault.parse(text)
        if fault.kind in ("throttle", "vendor_throttle"):
            # Written as a string, a throttle names the sandbox's wait.
            return Fault(fault.kind, 429, _seconds(self.faults.retry_after))
        return fault

    def admit(self, request: SandboxRequest) -> _Plan:
        """Log the request and decide everything that comes before its route: the route,
        the rate limit, the credential, and the fault it draws."""
        with self.lock:
            request.at = self.clock()
            self.requests.append(request)
            found = self._match(request)
            if found is None:
                return _Plan(self.not_found_response(request))
            wait = self._over_budget(found.budget, request.at)
            if wait is not None:
                self.rate_rejections += 1
                return _Plan(self.throttle_response(request, max(wait, 0.001)))
            if found.auth and not self.authorized(request):
                return _Plan(self.auth_failed_response(request))
            request.fault = self._draw_fault() if found.faults else None
            delay = self.faults.latency
            if request.fault is not None and request.fault.kind == "slow":
                delay += request.fault.seconds or self.faults.slow_seconds
            return _Plan(delay=delay, route=found)

    def answer(self, request: SandboxRequest, plan: _Plan) -> SandboxResponse:
        """The answer after any delay: the fault's, or the route's.

        :raises Held: the request is to be held until the client gives up.
        :raises Dropped: the connection is to be closed without an answer.
        """
        if plan.response is not None:
            return plan.response
        assert plan.route is not None
        fault = request.fault
        kind = fault.kind if fault is not None else "pass"
        if kind == "timeout":
            raise Held
        if kind == "connect_error":
            raise Dropped
        if kind == "malformed_json":
            return SandboxResponse(
                200, b'{"results": [{"id": ', {"Content-Type": "application/json"}
            )
        if kind in ("throttle", "vendor_throttle"):
            assert fault is not None
            seconds = float(fault.retry_after or self.faults.retry_after)
            if kind == "vendor_throttle":
                return self.throttle_response(request, seconds)
            return SandboxResponse.json(
                {"message": "rate limit exceeded"},
                status=429,
                headers={"Retry-After": fault.retry_after or _seconds(seconds)},
            )
        if kind == "status":
            assert fault is not None
            return self.error_response(request, fault.status)
        with self.lock:
            handler = getattr(self, plan.route.handler)
            response: SandboxResponse = handler(request)
            if request.fault is not None and request.fault.kind == "partial":
                # No route here could refuse items: the fault waits for one that can.
                if not self.faults.odds.get("partial"):
                    self.faults.script.appendleft(request.fault)
                request.fault = None
            return response

    def record(self, request: SandboxRequest, status: int | None) -> None:
        with self.lock:
            request.status = status
            if not self.keep_bodies:
                request.body = b""
            if status is not None:
                self.answers[status] += 1


def _seconds(value: float) -> str:
    """A ``Retry-After`` value: whole seconds when whole, else to the millisecond."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def max_in_window(times: Sequence[float], seconds: float) -> int:
    """The most of ``times`` within any half-open window ``[t, t + seconds)``."""
    ordered = sorted(times)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best
