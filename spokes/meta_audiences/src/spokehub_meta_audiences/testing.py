"""A sandbox of Meta's Marketing API for Custom Audiences, for tests, demos and trying the
spoke offline.

Built from the Graph API's documented request and response shapes on the conformance
kit's server base:

- ``GET /{version}/act_{id}`` (the ad account) and ``GET /{version}/{audience_id}``;
- ``GET /{version}/act_{id}/customaudiences`` (paged with ``limit`` and the ``after``
  cursor) and ``POST`` to it (``subtype=CUSTOM`` with ``customer_file_source``, or
  ``subtype=LOOKALIKE`` with ``origin_audience_id`` and ``lookalike_spec``);
- ``POST``/``DELETE /{version}/{audience_id}/users`` with ``payload`` (``schema`` and
  ``data``) and ``session`` (``session_id``, ``batch_seq``, ``last_batch_flag``), at most
  10,000 rows, answering ``num_received``, ``num_invalid_entries`` and
  ``invalid_entry_samples``; a value that is no SHA-256 hex is an invalid entry;
- Graph's error object (``message``, ``type``, ``code``, ``error_subcode``,
  ``fbtrace_id``): 401 with code 190 for a token it does not know, 400 with code 190 for
  an expired one (:data:`SANDBOX_EXPIRED_TOKEN`), 400 with code 80003 and the
  ``X-Business-Use-Case-Usage`` header's ``estimated_time_to_regain_access`` (minutes)
  when throttled, code 2 (``is_transient``) for an injected outage.

Parameters are read from the query, a form body or a JSON body, as Graph reads them.
Serve it with::

    python -m spokehub_meta_audiences.testing --port 8765

and point a connection's ``base_url`` at the URL it prints, with ``access_token:``
:data:`SANDBOX_ACCESS_TOKEN` and ``ad_account_id:`` :data:`SANDBOX_AD_ACCOUNT_ID`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from spokehub_contracts.testing import Sandbox, SandboxRequest, SandboxResponse, route

#: The access token the sandbox accepts.
SANDBOX_ACCESS_TOKEN = "meta_sandbox_access_token"
#: A token the sandbox knows but that has expired: Graph's 400 with code 190/463.
SANDBOX_EXPIRED_TOKEN = "meta_sandbox_expired_token"
#: The sandbox's ad account.
SANDBOX_AD_ACCOUNT_ID = "1234567890"

#: Single-key schemas and the keys of a multi-key schema, as Meta documents them.
SINGLE_KEY_SCHEMAS = {
    "EMAIL_SHA256": "EMAIL",
    "PHONE_SHA256": "PHONE",
    "MOBILE_ADVERTISER_ID": "MADID",
}
MULTI_KEYS = frozenset(
    [
        "EXTERN_ID",
        "EMAIL",
        "PHONE",
        "GEN",
        "DOBY",
        "DOBM",
        "DOBD",
        "LN",
        "FN",
        "FI",
        "CT",
        "ST",
        "ZIP",
        "MADID",
        "COUNTRY",
    ]
)
# Keys sent in clear rather than hashed.
_CLEAR_KEYS = frozenset({"EXTERN_ID", "MADID"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^v\d+\.\d+$")
# Meta answers a sample of the invalid entries, not every one.
_SAMPLES = 100


def _graph_error(
    message: str,
    code: int,
    *,
    status: int = 400,
    subcode: int | None = None,
    transient: bool = False,
    headers: dict[str, str] | None = None,
) -> SandboxResponse:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    error["fbtrace_id"] = "AbCdEfGhIjK_sandbox"
    return SandboxResponse.json({"error": error}, status=status, headers=headers)


class MetaSandbox(Sandbox):
    """Meta's Custom Audience API for one ad account. :attr:`audiences` holds the
    audiences by id; :attr:`members` the ``(key, hash)`` pairs each one holds;
    :attr:`sessions` the batches of each upload session, in arrival order."""

    name = "meta_audiences"
    tokens = (SANDBOX_ACCESS_TOKEN,)
    max_batch = 10_000

    def __init__(self, *, ad_account_id: str = SANDBOX_AD_ACCOUNT_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ad_account_id = ad_account_id
        self.audiences: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[tuple[str, str]]] = {}
        self.sessions: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    # -- Graph's shapes ------------------------------------------------------------------

    def _token(self, request: SandboxRequest) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return token
        return request.query.get("access_token", "")

    def authorized(self, request: SandboxRequest) -> bool:
        return self._token(request) in self.accepted_tokens

    def auth_failed_response(self, request: SandboxRequest) -> SandboxResponse:
        if self._token(request) == SANDBOX_EXPIRED_TOKEN:
            return _graph_error(
                "Error validating access token: Session has expired.", 190, subcode=463
            )
        return _graph_error(
            "Invalid OAuth access token - Cannot parse access token",
            190,
            status=401,
            headers={"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'},
        )

    def throttle_response(self, request: SandboxRequest, retry_after: float) -> SandboxResponse:
        minutes = max(1, math.ceil(retry_after / 60))
        usage = {
            self.ad_account_id: [
                {
                    "type": "custom_audience",
                    "call_count": 100,
                    "total_cputime": 12,
                    "total_time": 20,
                    "estimated_time_to_regain_access": minutes,
                    "ads_api_access_tier": "development_access",
                }
            ]
        }
        return _graph_error(
            "(#80003) There have been too many calls to this ad-account. Wait a bit and try again.",
            80003,
            subcode=2446079,
            headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
        )

    def error_response(self, request: SandboxRequest, status: int) -> SandboxResponse:
        if status in (401, 403):
            return self.auth_failed_response(request)
        return _graph_error(
            "An unexpected error has occurred. Please retry your request later.",
            2,
            status=status,
            transient=True,
        )

    def batch_too_large_response(self, request: SandboxRequest, count: int) -> SandboxResponse:
        return _graph_error(
            f"(#100) payload.data: at most {self.max_batch} users a request, got {count}", 100
        )

    def not_found_response(self, request: SandboxRequest) -> SandboxResponse:
        return _graph_error(f"Unknown path components: {request.path}", 2500)

    def _no_object(self, request: SandboxRequest, node: str) -> SandboxResponse:
        return _graph_error(
            f"Unsupported {request.method.lower()} request. Object with ID '{node}' does not"
            " exist, cannot be loaded due to missing permissions, or does not support this"
            " operation.",
            100,
            subcode=33,
        )

    def _missing(self, name: str) -> SandboxResponse:
        return _graph_error(f"(#100) The parameter {name} is required", 100)

    def _invalid(self, what: str) -> SandboxResponse:
        return _graph_error(f"(#100) Invalid parameter: {what}", 100)

    # -- routes --------------------------------------------------------------------------

    @route("GET", "/{version}/{node}")
    def read_node(self, request: SandboxRequest) -> SandboxResponse:
        node = request.params["node"]
        if refusal := self._check_version(request):
            return refusal
        if node == f"act_{self.ad_account_id}":
            account = {"id": node, "name": "Sandbox ad account", "account_status": 1}
            return SandboxResponse.json(_fields(account, request.query.get("fields")))
        audience = self.audiences.get(node)
        if audience is None:
            return self._no_object(request, node)
        shown = {**audience, "approximate_count_lower_bound": len(self.members[node])}
        return SandboxResponse.json(_fields(shown, request.query.get("fields")))

    @route("GET", "/{version}/act_{account_id}/customaudiences")
    def list_audiences(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._check_account(request):
            return refusal
        try:
            size = min(max(1, int(request.query.get("limit", "25"))), 500)
            start = _cursor_position(request.query.get("after"))
        except ValueError:
            return self._invalid("limit or after")
        audiences = list(self.audiences.values())
        page = self.paginate(request, audiences, start, size)
        fields = request.query.get("fields")
        body: dict[str, Any] = {"data": [_fields(a, fields) for a in page.items]}
        if page.items:
            cursors = {
                "before": _cursor(page.start),
                "after": _cursor(page.next_start or page.start + len(page.items)),
            }
            body["paging"] = {"cursors": cursors}
            if page.next_start is not None:
                query = f"limit={size}&after={_cursor(page.next_start)}"
                body["paging"]["next"] = f"{request.path}?{query}"
        return SandboxResponse.json(body)

    @route("POST", "/{version}/act_{account_id}/customaudiences")
    def create_audience(self, request: SandboxRequest) -> SandboxResponse:
        if refusal := self._check_account(request):
            return refusal
        params = _params(request)
        name = params.get("name")
        if not name:
            return self._missing("name")
        subtype = params.get("subtype", "CUSTOM")
        audience: dict[str, Any] = {"name": name, "subtype": subtype}
        if subtype == "CUSTOM":
            source = params.get("customer_file_source")
            if source not in (
                "USER_PROVIDED_ONLY",
                "PARTNER_PROVIDED_ONLY",
                "BOTH_USER_AND_PARTNER_PROVIDED",
            ):
                return self._missing("customer_file_source")
            audience["customer_file_source"] = source
            audience["description"] = params.get("description", "")
        elif subtype == "LOOKALIKE":
            origin = params.get("origin_audience_id")
            if origin not in self.audiences:
                return self._invalid("origin_audience_id names no audience of this account")
            try:
                spec = _json(params.get("lookalike_spec"))
                ratio = float(spec["ratio"])
                country = str(spec["country"])
            except (ValueError, KeyError, TypeError):
                return self._invalid("lookalike_spec needs a ratio and a country")
            if not 0.01 <= ratio <= 0.20 or not re.match(r"^[A-Z]{2}$", country):
                return self._invalid("lookalike_spec.ratio must be 0.01-0.20, country ISO")
            audience["origin_audience_id"] = origin
            audience["lookalike_spec"] = {"ratio": ratio, "country": country}
        else:
            return self._invalid(f"subtype {subtype}")
        audience_id = f"2385{next(self._ids):014d}"
        self.audiences[audience_id] = {"id": audience_id, **audience}
        self.members[audience_id] = set()
        return SandboxResponse.json({"id": audience_id})

    @route("POST", "/{version}/{audience_id}/users")
    def add_users(self, request: SandboxRequest) -> SandboxResponse:
        return self._users(request, add=True)

    @route("DELETE", "/{version}/{audience_id}/users")
    def remove_users(self, request: SandboxRequest) -> SandboxResponse:
        return self._users(request, add=False)

    # -- the users edge ------------------------------------------------------------------

    def _users(self, request: SandboxRequest, *, add: bool) -> SandboxResponse:
        if refusal := self._check_version(request):
            return refusal
        audience_id = request.params["audience_id"]
        audience = self.audiences.get(audience_id)
        if audience is None:
            return self._no_object(request, audience_id)
        if audience["subtype"] != "CUSTOM":
            return self._invalid("users can be changed on customer file audiences only")
        params = _params(request)
        if "payload" not in params:
            return self._missing("payload")
        if "session" not in params:
            return self._missing("session")
        try:
            payload = _json(params["payload"])
            session = _json(params["session"])
            schema = payload["schema"]
            data = list(payload["data"])
            session_id = int(session["session_id"])
            batch_seq = int(session["batch_seq"])
            last = session.get("last_batch_flag", False)
        except (ValueError, KeyError, TypeError):
            return self._invalid("payload needs schema and data, session needs session_id")
        keys = _schema_keys(schema)
        if keys is None:
            return self._invalid(f"payload.schema {schema!r}")
        if batch_seq < 1 or not isinstance(last, bool):
            return self._invalid("session.batch_seq starts at 1, last_batch_flag is a boolean")
        if refusal := self.check_batch(request, len(data)):
            return refusal
        refused = self.partial_failures(request, len(data))
        invalid: dict[str, str] = {}
        members = self.members[audience_id]
        for position, entry in enumerate(data):
            row = [entry] if isinstance(schema, str) else entry
            problem = _row_problem(keys, row)
            if problem is None and position in refused:
                problem = "the entry could not be processed"
            if problem is not None:
                invalid[_sample_of(row)] = problem
                continue
            pairs = {(key, value) for key, value in zip(keys, row, strict=True) if value}
            if add:
                members |= pairs
            else:
                members -= pairs
        self.sessions.setdefault(str(session_id), []).append(
            {
                "method": request.method,
                "audience_id": audience_id,
                "batch_seq": batch_seq,
                "last_batch_flag": last,
                "estimated_num_total": session.get("estimated_num_total"),
                "rows": len(data),
            }
        )
        samples = dict(itertools.islice(invalid.items(), _SAMPLES))
        return SandboxResponse.json(
            {
                "audience_id": audience_id,
                "session_id": str(session_id),
                "num_received": len(data),
                "num_invalid_entries": len(invalid),
                "invalid_entry_samples": samples,
            }
        )

    # -- helpers -------------------------------------------------------------------------

    def _check_version(self, request: SandboxRequest) -> SandboxResponse | None:
        if not _VERSION.match(request.params.get("version", "")):
            return _graph_error("Unknown path components: the version must be like v25.0", 2500)
        return None

    def _check_account(self, request: SandboxRequest) -> SandboxResponse | None:
        if refusal := self._check_version(request):
            return refusal
        if request.params["account_id"] != self.ad_account_id:
            return self._no_object(request, f"act_{request.params['account_id']}")
        return None

    def hashes(self, audience_id: str, key: str = "EMAIL") -> set[str]:
        """The hashes of ``key`` an audience holds."""
        return {value for k, value in self.members[audience_id] if k == key}

    def audience_named(self, name: str, subtype: str = "CUSTOM") -> dict[str, Any]:
        """The audience called ``name`` (the test asserts there is exactly one)."""
        [found] = [
            a for a in self.audiences.values() if a["name"] == name and a["subtype"] == subtype
        ]
        return found


def _params(request: SandboxRequest) -> dict[str, Any]:
    """Graph's parameters: the query, then a form or JSON body."""
    params: dict[str, Any] = dict(request.query)
    if not request.body:
        return params
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        body = request.json()
        if isinstance(body, dict):
            params.update(body)
    else:
        params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    return params


def _json(value: Any) -> Any:
    """A parameter that is JSON: a string in a form, an object in a JSON body."""
    return json.loads(value) if isinstance(value, str) else value


def _schema_keys(schema: Any) -> list[str] | None:
    if isinstance(schema, str):
        key = SINGLE_KEY_SCHEMAS.get(schema)
        return [key] if key else None
    if isinstance(schema, list) and schema and all(k in MULTI_KEYS for k in schema):
        return list(schema)
    return None


def _row_problem(keys: list[str], row: Any) -> str | None:
    if not isinstance(row, list) or len(row) != len(keys):
        return "the row does not match the schema"
    if not any(row):
        return "the row holds no key"
    for key, value in zip(keys, row, strict=True):
        if not isinstance(value, str):
            return f"{key} is not a string"
        if value and key not in _CLEAR_KEYS and not _SHA256.match(value):
            return f"{key} is not a SHA-256 hash in lowercase hex"
    return None


def _sample_of(row: Any) -> str:
    """How an invalid row shows among the samples: its first value."""
    values = row if isinstance(row, list) else [row]
    return str(next((v for v in values if v), ""))


def _fields(node: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return {"id": node["id"], **({"name": node["name"]} if "name" in node else {})}
    wanted = {"id", *fields.split(",")}
    return {k: v for k, v in node.items() if k in wanted}


def _cursor(position: int) -> str:
    return base64.b64encode(str(position).encode()).decode()


def _cursor_position(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor, validate=True).decode())
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor") from exc


if __name__ == "__main__":
    MetaSandbox.main()
