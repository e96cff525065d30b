"""A sandbox webhook receiver, for tests, demos and trying the spoke offline.

It plays the part of a tool behind a webhook, built on the conformance kit's server base:
it verifies every request as the Standard Webhooks spec says (the ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` headers, the signature over
``id.timestamp.body``, and a timestamp no more than five minutes off) with the
``standardwebhooks`` reference library, answers 401 to anything it cannot verify, keeps
every message once by its ``webhook-id``, takes at most 100 changes a message, and answers
429 with ``Retry-After`` when it is over its rate limit. Serve it with::

    python -m spokehub_webhook.testing --port 8765

and point a connection's ``url`` at the URL it prints (any path), with ``secret:``
:data:`SANDBOX_SECRET`.
"""

from __future__ import annotations

from typing import Any

from standardwebhooks.webhooks import Webhook

from spokehub_contracts.testing import Sandbox, SandboxRequest, SandboxResponse, route

#: The signing secret the sandbox verifies with (24+ bytes, base64, after ``whsec_``).
SANDBOX_SECRET = "whsec_c3Bva2VodWIgd2ViaG9vayBzYW5kYm94IHNpZ25pbmcga2V5"


class WebhookReceiverSandbox(Sandbox):
    """A receiver at every path of its URL. :attr:`messages` holds each verified message
    (the parsed body) once, in arrival order; :attr:`duplicates` counts messages received
    again under a ``webhook-id`` already seen; :attr:`refused` says why requests were
    answered 401.

    :param secret: the ``whsec_…`` secret it verifies with (:data:`SANDBOX_SECRET`).
    """

    name = "webhook"
    max_batch = 100
    webhook_timestamped = True

    def __init__(self, *, secret: str = SANDBOX_SECRET, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secret = secret
        self.messages: list[dict[str, Any]] = []
        self.duplicates = 0
        self.refused: list[str] = []
        self._seen: set[str] = set()

    def authorized(self, request: SandboxRequest) -> bool:
        """Whether the request verifies: its signature under :attr:`secret`, and a
        timestamp within five minutes of now."""
        try:
            Webhook(self.secret).verify(request.body, dict(request.headers), json_parse=False)
        except Exception as exc:  # the library raises several kinds for a bad header
            with self.lock:
                self.refused.append(str(exc) or type(exc).__name__)
            return False
        return True

    def auth_failed_response(self, request: SandboxRequest) -> SandboxResponse:
        error = {"error": "invalid_signature", "message": "the webhook signature did not verify"}
        return SandboxResponse.json(error, status=401)

    def throttle_response(self, request: SandboxRequest, retry_after: float) -> SandboxResponse:
        error = {"error": "rate_limited", "message": "too many messages, slow down"}
        headers = {"Retry-After": str(max(1, round(retry_after)))}
        return SandboxResponse.json(error, status=429, headers=headers)

    def error_response(self, request: SandboxRequest, status: int) -> SandboxResponse:
        error = {"error": "unavailable", "message": "the receiver failed, try again later"}
        return SandboxResponse.json(error, status=status)

    def batch_too_large_response(self, request: SandboxRequest, count: int) -> SandboxResponse:
        error = {
            "error": "too_many_changes",
            "message": f"{count} changes in one message, at most {self.max_batch}",
        }
        return SandboxResponse.json(error, status=413)

    @route("POST", "/")
    @route("POST", "/{path:path}")
    def receive(self, request: SandboxRequest) -> SandboxResponse:
        try:
            message = request.json()
            changes = message["data"]["changes"]
        except (ValueError, KeyError, TypeError):
            error = {"error": "bad_request", "message": "expected a JSON message with data.changes"}
            return SandboxResponse.json(error, status=400)
        if refusal := self.check_batch(request, len(changes)):
            return refusal
        refused = self.partial_failures(request, len(changes))
        msg_id = request.headers["webhook-id"]
        if msg_id in self._seen:
            # Processed before: a receiver acknowledges a repeat without applying it twice.
            self.duplicates += 1
            return SandboxResponse.json({"received": 0, "duplicate": True})
        rejected = {
            changes[position]["item_id"]: "locked by another update" for position in refused
        }
        self._seen.add(msg_id)
        self.messages.append(message)
        answer: dict[str, Any] = {"received": len(changes) - len(rejected)}
        if rejected:
            answer["rejected"] = rejected
        return SandboxResponse.json(answer)

    @property
    def changes(self) -> list[dict[str, Any]]:
        """Every change of every message received, in order."""
        return [c for m in self.messages for c in m["data"]["changes"]]


if __name__ == "__main__":
    WebhookReceiverSandbox.main()
