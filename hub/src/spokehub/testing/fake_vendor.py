"""A fake vendor API for the delivery tests and the delivery benchmark, built on the
conformance kit's sandbox base.

``POST /batch`` takes ``{"items": [change, ...]}`` and answers ``{"results": [...]}``
with one ``{"item_id", "ok", "id" | "retryable", "message"}`` per item, like many
marketing APIs' batch endpoints. ``GET /check`` answers 200 or 401 like a credentials
probe. Faults are injected per request, from a script (tests that need an exact order)
or at random with fixed odds (soak tests), as the sandbox base does them:

- ``latency`` (every request) and ``slow`` (one request, ``slow_seconds``);
- ``429`` with ``Retry-After``; ``500``; ``401``;
- ``timeout``: no answer until the client gives up; the batch is not applied;
- ``malformed_json``: a 200 whose body is not JSON, as a broken proxy sends; not applied;
- ``partial``: every third item fails (alternately retryable and rejected for good).

An item is *accepted* when the vendor applied it and answered; ``accepted`` counts how
often each item id was, so a test can prove nothing was delivered twice. With
``rate_limit`` the server answers 429 to batches beyond the budget; ``arrivals`` keeps
every batch request's arrival time so a test can measure the rate it really saw.

``python -m spokehub.testing.fake_vendor --rate 50`` serves one in a process of its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from spokehub_contracts import RateLimit
from spokehub_contracts.testing import (
    Sandbox,
    SandboxFaults,
    SandboxRequest,
    SandboxResponse,
    route,
)


@dataclass
class Faults(SandboxFaults):
    """The sandbox's faults, and whether the vendor currently accepts the credentials."""

    auth_ok: bool = True
    timeout_seconds: float = 3.0


class FakeVendor(Sandbox):
    """The fake vendor. ``with FakeVendor() as vendor:`` serves it on 127.0.0.1 in a thread,
    so a test's event loop never slows it."""

    name = "fake-vendor"
    faults: Faults

    def __init__(
        self,
        *,
        rate_limit: RateLimit | tuple[int, float] | None = None,
        faults: Faults | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(rate_limit, tuple):
            rate_limit = RateLimit(requests=rate_limit[0], per_seconds=rate_limit[1])
        super().__init__(rate_limit=rate_limit, faults=faults or Faults(), **kwargs)
        self.accepted: Counter[str] = Counter()
        self.accepted_at: dict[str, float] = {}
        self.batches: list[list[dict[str, Any]]] = []

    @property
    def arrivals(self) -> list[float]:
        """Arrival times of batch requests (credential probes are not counted)."""
        return [r.at for r in self.requests_to("/batch")]

    def authorized(self, request: SandboxRequest) -> bool:
        return self.faults.auth_ok

    def auth_failed_response(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"message": "invalid api key"}, status=401)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                **super().stats(),
                "accepted": sum(self.accepted.values()),
                "duplicates": sum(n - 1 for n in self.accepted.values() if n > 1),
            }

    @route("GET", "/check", budget="probe", faults=False)
    def check(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"ok": True})

    @route("POST", "/batch")
    def batch(self, request: SandboxRequest) -> SandboxResponse:
        items: list[dict[str, Any]] = request.json()["items"]
        if refusal := self.check_batch(request, len(items)):
            return refusal
        if request.client_gone():
            return SandboxResponse.empty(499)  # the client gave up: nothing applied
        failed = self.partial_failures(request, len(items))
        results = []
        self.batches.append(items)
        for index, item in enumerate(items):
            item_id = item["item_id"]
            if index in failed:
                retryable = (index // 3) % 2 == 0
                results.append(
                    {
                        "item_id": item_id,
                        "ok": False,
                        "retryable": retryable,
                        "message": "busy, try again" if retryable else "invalid field",
                    }
                )
                continue
            self.accepted[item_id] += 1
            self.accepted_at.setdefault(item_id, self.clock())
            results.append({"item_id": item_id, "ok": True, "id": f"ext-{item_id}"})
        return SandboxResponse.json({"results": results})


def run_vendor(**kwargs: Any) -> FakeVendor:
    """Start a fake vendor; stop it with :meth:`FakeVendor.stop`."""
    vendor = FakeVendor(**kwargs)
    vendor.start()
    return vendor


if __name__ == "__main__":
    FakeVendor.main()
