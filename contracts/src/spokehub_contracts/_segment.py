"""The Segment message spec, declared once.

What a Segment-spec message may hold (its fields, their types and limits), what it must
hold (an identity, the field its call type cannot do without) and how big a message and
a request may be. Everything that checks a Segment message is derived from this
declaration: :class:`~spokehub_contracts.Event`, and in the hub the ingestion API's fast
and full paths and its OpenAPI request schema. A rule changed here changes everywhere.

This module holds data and the wording of each rule, nothing else: it may not import the
rest of the contracts, so that every part can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType


class EventType(StrEnum):
    """The six Segment spec call types."""

    IDENTIFY = "identify"
    TRACK = "track"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


class SegmentFieldType(StrEnum):
    """What a field of a Segment message holds. ``null`` is always the field's absence."""

    #: A string; a number is read as its text (Segment clients send numeric IDs).
    ID = "id"
    #: A string.
    TEXT = "text"
    #: An ISO 8601 date-time, as a string.
    TIMESTAMP = "timestamp"
    #: A JSON object.
    OBJECT = "object"


@dataclass(frozen=True)
class SegmentField:
    """One field of a Segment message.

    :param name: the name on the wire (camelCase, as Segment clients send it).
    :param type: what the field holds.
    :param attribute: the :class:`~spokehub_contracts.Event` attribute that holds it
        (snake_case); ``None`` when ``Event`` keeps it among its extra fields as sent.
    :param max_length: most characters a string value may have, if limited.
    :param nul_allowed: whether a string value may contain the NUL character.
    :param description: what the field is for, as the API reference shows it.
    """

    name: str
    type: SegmentFieldType
    attribute: str | None
    max_length: int | None = None
    nul_allowed: bool = True
    description: str = ""

    @property
    def type_rule(self) -> str:
        """The rule a value of the wrong type breaks (``must be a string``)."""
        return "must be an object" if self.type is SegmentFieldType.OBJECT else "must be a string"

    @property
    def length_rule(self) -> str:
        """The rule a value longer than :attr:`max_length` breaks."""
        return f"at most {self.max_length} characters"

    @property
    def nul_rule(self) -> str:
        """The rule a value holding NUL breaks, where :attr:`nul_allowed` is false."""
        return "must not contain NUL"


@dataclass(frozen=True)
class SegmentSpec:
    """The Segment message spec: see :data:`SEGMENT_SPEC`, the one instance.

    :param call_types: the values ``type`` may take.
    :param fields: every field the spec reads, in the order their rules are checked.
    :param identity: a message needs at least one of these, not empty.
    :param required_by_type: the field each call type cannot do without (not empty).
    :param message_id: the field that names a message; the hub makes one up when absent.
    :param received_at: the field the hub sets; a client's value is replaced unread.
    :param write_key: the credential a client may send in a body; never stored.
    :param envelope: the fields of a batch request beside its messages.
    :param batch: the envelope field that holds a batch request's messages.
    :param max_message_bytes: most bytes one message may take, serialized.
    :param max_request_bytes: most bytes one request body may take, decompressed.
    :param max_depth: most levels of objects and arrays one message may nest, the message
        itself being the first.
    """

    call_types: tuple[str, ...]
    fields: tuple[SegmentField, ...]
    identity: tuple[str, ...]
    required_by_type: Mapping[str, str]
    message_id: str
    received_at: str
    write_key: str
    envelope: tuple[SegmentField, ...]
    batch: str
    max_message_bytes: int
    max_request_bytes: int
    max_depth: int

    @cached_property
    def _by_name(self) -> Mapping[str, SegmentField]:
        return MappingProxyType({f.name: f for f in self.fields})

    def field(self, name: str) -> SegmentField:
        """The message field named ``name`` on the wire.

        :raises KeyError: when the spec has no such field.
        """
        return self._by_name[name]

    def of_type(self, type_: SegmentFieldType) -> tuple[SegmentField, ...]:
        """The message fields of one type, in spec order."""
        return tuple(f for f in self.fields if f.type is type_)

    @property
    def checked(self) -> tuple[SegmentField, ...]:
        """The message fields whose values are checked: all but the one the hub sets and
        the credential, which are replaced and dropped unread."""
        return self._checked(self.fields)

    @property
    def checked_envelope(self) -> tuple[SegmentField, ...]:
        """The envelope fields whose values are checked: all but the credential, which
        only authentication reads."""
        return self._checked(self.envelope)

    def _checked(self, fields: tuple[SegmentField, ...]) -> tuple[SegmentField, ...]:
        return tuple(f for f in fields if f.name not in (self.received_at, self.write_key))

    @property
    def type_rule(self) -> str:
        """The rule an unknown ``type`` breaks."""
        return "must be one of " + ", ".join(sorted(self.call_types))

    @property
    def identity_rule(self) -> str:
        """The rule a message without an identity breaks."""
        return " or ".join(self.identity) + " is required"

    def required_rule(self, call_type: str) -> str:
        """The rule a ``call_type`` message without its required field breaks (the field's
        name first: ``event is required for a track call``)."""
        return f"{self.required_by_type[call_type]} is required for a {call_type} call"

    @property
    def size_rule(self) -> str:
        """The rule a message over :attr:`max_message_bytes` breaks."""
        return f"message exceeds {self.max_message_bytes} bytes"

    @property
    def depth_rule(self) -> str:
        """The rule a message nested deeper than :attr:`max_depth` breaks."""
        return f"nests objects and arrays deeper than {self.max_depth} levels"


_ID, _TEXT, _TIMESTAMP, _OBJECT = SegmentFieldType

#: The Segment message spec (segment.com/docs/connections/spec/common) as this project
#: reads it. Limits: Segment documents 32 KB per message and 500 KB per batch request;
#: lengths and depth are this project's, wide enough for any client seen so far and
#: narrow enough that the store and the JSON encoder take every accepted message.
SEGMENT_SPEC = SegmentSpec(
    call_types=tuple(EventType),
    fields=(
        SegmentField(
            "messageId",
            _ID,
            "message_id",
            max_length=256,
            # PostgreSQL text cannot hold NUL: refused on every backend alike.
            nul_allowed=False,
            description="unique per message; repeats within the window are stored once",
        ),
        SegmentField("userId", _ID, "user_id", 512, description="the person's ID in your system"),
        SegmentField("anonymousId", _ID, "anonymous_id", 512, description="a device or session ID"),
        SegmentField("groupId", _ID, "group_id", 512, description="the account (group calls)"),
        SegmentField(
            "previousId", _ID, "previous_id", 512, description="the former ID (alias calls)"
        ),
        SegmentField("event", _TEXT, "event", 512, description="what happened (track calls)"),
        SegmentField("name", _TEXT, "name", 512, description="the page or screen name"),
        SegmentField("properties", _OBJECT, "properties", description="the event's properties"),
        SegmentField("traits", _OBJECT, "traits", description="the person's or group's traits"),
        SegmentField("context", _OBJECT, "context", description="the client's context"),
        SegmentField(
            "integrations", _OBJECT, "integrations", description="per-destination switches"
        ),
        SegmentField("timestamp", _TIMESTAMP, "timestamp", description="when it happened"),
        SegmentField("sentAt", _TIMESTAMP, "sent_at", description="when the client sent it"),
        SegmentField(
            "originalTimestamp",
            _TIMESTAMP,
            "original_timestamp",
            description="the client's clock when it happened",
        ),
        SegmentField(
            "receivedAt", _TIMESTAMP, "received_at", description="set by the hub on receipt"
        ),
        SegmentField(
            "writeKey", _TEXT, None, description="the write key, if not in the Authorization header"
        ),
    ),
    identity=("userId", "anonymousId"),
    required_by_type=MappingProxyType(
        {EventType.TRACK: "event", EventType.GROUP: "groupId", EventType.ALIAS: "previousId"}
    ),
    message_id="messageId",
    received_at="receivedAt",
    write_key="writeKey",
    envelope=(
        SegmentField("sentAt", _TIMESTAMP, None, description="when the client sent the batch"),
        SegmentField("context", _OBJECT, None, description="the client's context"),
        SegmentField(
            "writeKey", _TEXT, None, description="the write key, if not in the Authorization header"
        ),
    ),
    batch="batch",
    max_message_bytes=32 * 1024,
    max_request_bytes=500 * 1024,
    max_depth=64,
)

__all__ = ["SEGMENT_SPEC", "EventType", "SegmentField", "SegmentFieldType", "SegmentSpec"]
