"""spokehub contracts: everything a spoke or plugin may depend on.

Vendors import this package and nothing of the hub. The public names are listed in
``__all__``; everything in underscore modules is private and may move.
"""

import typing as _typing

from ._errors import (
    AuthError,
    ConfigError,
    PermanentError,
    SpokeError,
    SpokehubError,
    Throttled,
    TransientError,
    ValidationFailed,
)
from ._incremental import ModifiedSince
from ._normalize import (
    BUILTIN_IDENTIFIER_TYPES,
    check_identifier_type,
    hash_identifier,
    normalize_email,
    normalize_identifier,
    normalize_phone,
    sha256_hex,
)
from ._plugins import Enricher, Matcher, Transform
from ._records import (
    AudienceEntered,
    AudienceExited,
    Change,
    ChangeKind,
    ConsentChanged,
    Delivered,
    Forget,
    MergeContacts,
    Outcome,
    Rejected,
    RejectedRecord,
    RetryAfter,
    SourceRecord,
    StateCheckpoint,
    TrackEvent,
    UpsertAccount,
    UpsertMembership,
    UpsertPerson,
)
from ._redact import MASK, is_sensitive_key, redact
from ._schema import (
    Account,
    Address,
    Consent,
    ConsentPurpose,
    Event,
    Identifier,
    Membership,
    Person,
    PiiClass,
    PrivacyAction,
    PrivacyRequest,
    RecordKind,
    ScoredTrait,
    pii_classes,
    utcnow,
)
from ._segment import SEGMENT_SPEC, EventType, SegmentField, SegmentFieldType, SegmentSpec
from ._spoke import (
    Capabilities,
    CheckResult,
    CheckStatus,
    Destination,
    RateLimit,
    Source,
    SpokeConfig,
    Stream,
    WebhookRequest,
)
from ._warehouse import (
    ACCOUNTS_TABLE,
    EVENT_COLUMNS,
    PERSONS_TABLE,
    TRACKS_TABLE,
    warehouse_columns,
    warehouse_name,
)
from .hookspecs import PROJECT_NAME, hookimpl, hookspec

if _typing.TYPE_CHECKING:
    from ._http import (
        AuthHook,
        RateLimiter,
        SpokeClient,
        ThrottleSignal,
        bearer_auth,
        parse_retry_after,
    )

#: The HTTP toolkit's names, loaded on first use: the hub reads configurations and data
#: without ever talking HTTP, and need not load the client for it.
_HTTP_TOOLKIT = frozenset(
    {"AuthHook", "RateLimiter", "SpokeClient", "ThrottleSignal", "bearer_auth", "parse_retry_after"}
)


def __getattr__(name: str) -> object:
    if name in _HTTP_TOOLKIT:
        from . import _http

        value = getattr(_http, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _HTTP_TOOLKIT)


__version__ = "0.1.0"

__all__ = [
    "ACCOUNTS_TABLE",
    "BUILTIN_IDENTIFIER_TYPES",
    "EVENT_COLUMNS",
    "MASK",
    "PERSONS_TABLE",
    "PROJECT_NAME",
    "SEGMENT_SPEC",
    "TRACKS_TABLE",
    "Account",
    "Address",
    "AudienceEntered",
    "AudienceExited",
    "AuthError",
    "AuthHook",
    "Capabilities",
    "Change",
    "ChangeKind",
    "CheckResult",
    "CheckStatus",
    "ConfigError",
    "Consent",
    "ConsentChanged",
    "ConsentPurpose",
    "Delivered",
    "Destination",
    "Enricher",
    "Event",
    "EventType",
    "Forget",
    "Identifier",
    "Matcher",
    "Membership",
    "MergeContacts",
    "ModifiedSince",
    "Outcome",
    "PermanentError",
    "Person",
    "PiiClass",
    "PrivacyAction",
    "PrivacyRequest",
    "RateLimit",
    "RateLimiter",
    "RecordKind",
    "Rejected",
    "RejectedRecord",
    "RetryAfter",
    "ScoredTrait",
    "SegmentField",
    "SegmentFieldType",
    "SegmentSpec",
    "Source",
    "SourceRecord",
    "SpokeClient",
    "SpokeConfig",
    "SpokeError",
    "SpokehubError",
    "StateCheckpoint",
    "Stream",
    "ThrottleSignal",
    "Throttled",
    "TrackEvent",
    "Transform",
    "TransientError",
    "UpsertAccount",
    "UpsertMembership",
    "UpsertPerson",
    "ValidationFailed",
    "WebhookRequest",
    "bearer_auth",
    "check_identifier_type",
    "hash_identifier",
    "hookimpl",
    "hookspec",
    "is_sensitive_key",
    "normalize_email",
    "normalize_identifier",
    "normalize_phone",
    "parse_retry_after",
    "pii_classes",
    "redact",
    "sha256_hex",
    "utcnow",
    "warehouse_columns",
    "warehouse_name",
]
