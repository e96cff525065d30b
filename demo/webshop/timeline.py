"""What each tool received, and when: the sandboxes' request logs, read back as lines a
marketer can follow, beside the steps of the story."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from spokehub_contracts.testing import Sandbox, SandboxRequest

from .tools import Tools


@dataclass(frozen=True)
class Line:
    at: float  # monotonic seconds, the sandboxes' clock
    who: str
    what: str
    step: bool = False


class Timeline:
    """The story's steps as they are taken, and the tools' requests since :meth:`begin`."""

    def __init__(self, tools: Tools) -> None:
        self.tools = tools
        self.started = time.monotonic()
        self.steps: list[Line] = []
        #: Demo seconds at which the activation clock was moved, and by how much.
        self.clock_moves: list[tuple[float, str]] = []

    def begin(self) -> None:
        """From now on (set-up done) every request of every tool is on the timeline."""
        self.started = time.monotonic()

    def step(self, who: str, what: str) -> float:
        at = time.monotonic()
        self.steps.append(Line(at, who, what, step=True))
        return at

    def lines(self) -> list[Line]:
        found = [s for s in self.steps if s.at >= self.started]
        for who, sandbox in self._sandboxes():
            with sandbox.lock:
                requests = [r for r in sandbox.requests if r.at >= self.started]
            for request in requests:
                what = self._describe(who, request)
                if what:
                    found.append(Line(request.at, who, what))
        return sorted(found, key=lambda line: (line.at, not line.step))

    def render(self, console: Console) -> None:
        table = Table(title="What each tool received, and when", title_justify="left")
        table.add_column("t (s)", justify="right", style="dim")
        table.add_column("tool", style="bold")
        table.add_column("what")
        for line in self.lines():
            style = "cyan" if line.step else None
            t = f"{line.at - self.started:7.2f}"
            table.add_row(t, line.who, line.what, style=style)
        console.print(table)

    # -- reading the logs ----------------------------------------------------------------

    def _sandboxes(self) -> list[tuple[str, Sandbox]]:
        t = self.tools
        return [("HubSpot", t.hubspot), ("Meta", t.meta), ("Klaviyo", t.klaviyo)]

    def _describe(self, who: str, request: SandboxRequest) -> str | None:
        status = request.status
        if status is None:
            return None
        try:
            body = request.json() if request.body else None
        except ValueError:
            body = None
        suffix = "" if status < 300 else f" → {status}"
        text = {"HubSpot": _hubspot, "Meta": self._meta, "Klaviyo": _klaviyo}[who](request, body)
        return None if text is None else text + suffix

    def _meta(self, request: SandboxRequest, body: Any) -> str | None:
        path = request.path
        if not path.endswith("/users"):
            if request.method == "POST" and path.endswith("/customaudiences"):
                return "Custom Audience created"
            return None
        audience_id = request.params.get("audience_id") or path.split("/")[-2]
        audience = self.tools.meta.audiences.get(audience_id, {})
        name = audience.get("name", audience_id)
        rows = request.items or 0
        verb = "added to" if request.method == "POST" else "removed from"
        return f"{rows} person(s) {verb} Custom Audience '{name}' (SHA-256 hashes)"


def _hubspot(request: SandboxRequest, body: Any) -> str | None:
    path = request.path
    if path.endswith("/batch/upsert") or path.endswith("/batch/update"):
        inputs = (body or {}).get("inputs") or []
        parts = []
        for item in inputs[:3]:
            props = item.get("properties") or {}
            who = item.get("id") or props.get("email") or "?"
            shown = ", ".join(f"{k}={_short(v)}" for k, v in sorted(props.items()) if k != "email")
            parts.append(f"{who}: {shown or '(the e-mail address alone)'}")
        more = f" (+{len(inputs) - 3} more)" if len(inputs) > 3 else ""
        return f"contacts upserted — {'; '.join(parts)}{more}"
    if path.endswith("/subscribe") or path.endswith("/unsubscribe"):
        verb = "subscribed to" if path.endswith("/subscribe") else "unsubscribed from"
        email = (body or {}).get("emailAddress", "?")
        return f"{email} {verb} subscription type {(body or {}).get('subscriptionId')}"
    if path.endswith("/gdpr-delete"):
        return f"GDPR delete of contact {(body or {}).get('objectId', '?')}"
    if path.endswith("/merge"):
        return "contacts merged"
    return None


def _klaviyo(request: SandboxRequest, body: Any) -> str | None:
    path = request.path
    attributes = ((body or {}).get("data") or {}).get("attributes") or {}
    if path == "/api/profile-import":
        return f"profile imported: {attributes.get('email', '?')}"
    if path == "/api/events" and request.method == "POST":
        metric = (((attributes.get("metric") or {}).get("data") or {}).get("attributes")) or {}
        profile = (((attributes.get("profile") or {}).get("data") or {}).get("attributes")) or {}
        props = attributes.get("properties") or {}
        extra = ""
        if "recommended_products" in props:
            names = [
                p.get("name", p) if isinstance(p, dict) else p
                for p in props["recommended_products"]
            ]
            extra = f", recommended_products: {', '.join(map(str, names))}"
        return f"event '{metric.get('name')}' for {profile.get('email', '?')}{extra}"
    if "subscription-bulk" in path:
        verb = "subscribed" if "create" in path else "unsubscribed"
        return f"{request.items or 1} profile(s) {verb} (bulk job)"
    if path == "/api/data-privacy-deletion-jobs":
        return "data privacy deletion job"
    return None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "…"
