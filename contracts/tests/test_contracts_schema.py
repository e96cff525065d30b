"""The canonical schema and the records that cross the spoke boundary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from spokehub_contracts import (
    Account,
    AudienceEntered,
    AudienceExited,
    Capabilities,
    Change,
    Consent,
    ConsentPurpose,
    Delivered,
    Event,
    EventType,
    Forget,
    Identifier,
    Membership,
    Outcome,
    Person,
    Rejected,
    RetryAfter,
    ScoredTrait,
    SourceRecord,
    StateCheckpoint,
    TrackEvent,
    UpsertAccount,
    UpsertMembership,
    UpsertPerson,
)

# From the Segment spec (segment.com/docs/connections/spec/identify, /track, /http-api).
SEGMENT_IDENTIFY = """{
  "anonymousId": "507f191e810c19729de860ea",
  "channel": "browser",
  "context": {
    "ip": "8.8.8.8",
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_12_5)"
  },
  "integrations": {"All": false, "Mixpanel": true, "Salesforce": true},
  "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
  "receivedAt": "2015-02-23T22:28:55.387Z",
  "sentAt": "2015-02-23T22:28:55.111Z",
  "timestamp": "2015-02-23T22:28:55.111Z",
  "traits": {
    "name": "Peter Gibbons",
    "email": " Peter@Example.com ",
    "plan": "premium",
    "logins": 5,
    "address": {"street": "6th St", "city": "San Francisco", "state": "CA",
                "postalCode": "94103", "country": "USA"}
  },
  "type": "identify",
  "userId": "97980cfea0067",
  "version": "1.1"
}"""

SEGMENT_TRACK = """{
  "anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
  "context": {"library": {"name": "analytics.js", "version": "2.11.1"},
              "traits": {"phone": "+1 (201) 555-0123"}},
  "event": "Item Purchased",
  "messageId": "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
  "properties": {"item": "Blue T-shirt", "revenue": 39.95, "shipping": "2-day"},
  "receivedAt": "2015-12-12T19:11:01.266Z",
  "sentAt": "2015-12-12T19:11:01.169Z",
  "timestamp": "2015-12-12T19:11:01.249Z",
  "type": "track",
  "userId": "AiUGstSDIg",
  "originalTimestamp": "2015-12-12T19:11:01.152Z"
}"""

SEGMENT_BATCH = """{
  "batch": [
    {"type": "identify", "userId": "019mr8mf4r", "traits": {"email": "jake@yahoo.com",
     "name": "Jake Peterson", "age": 26}, "timestamp": "2012-12-02T00:30:12.984Z"},
    {"type": "track", "userId": "019mr8mf4r", "event": "Song Played",
     "properties": {"name": "Fallin for You", "artist": "Dierks Bentley"},
     "timestamp": "2012-12-02T00:30:08.276Z"},
    {"type": "track", "userId": 971, "event": "Song Played",
     "properties": {"name": "Get Lucky"}}
  ],
  "context": {"device": {"type": "phone", "name": "Apple iPhone 6"}}
}"""


class TestIdentifier:
    def test_normalizes_on_construction(self) -> None:
        assert Identifier(type="email", value=" Ada@Example.COM ").value == "ada@example.com"
        assert Identifier(type="phone", value="+1 (201) 555-0123").value == "+12015550123"
        assert Identifier(type="user_id", value="  AbC-1 ").value == "AbC-1"
        assert Identifier(type="shopify:customer_id", value=42).value == "42"

    def test_equal_when_they_name_the_same_thing(self) -> None:
        a = Identifier(type="email", value="ADA@example.com")
        b = Identifier(type="email", value="ada@EXAMPLE.com ")
        assert a == b
        assert hash(a) == hash(b)
        assert len({a, b}) == 1

    @pytest.mark.parametrize(
        ("text", "type_", "value"),
        [
            ("email:Ada@Example.com", "email", "ada@example.com"),
            ("phone:+44 20 7946 0958", "phone", "+442079460958"),
            ("user_id:u:with:colons", "user_id", "u:with:colons"),
            ("anonymous_id:507f191e", "anonymous_id", "507f191e"),
            ("shopify:customer_id:42", "shopify:customer_id", "42"),
            ("hubspot:contact_id:a:b", "hubspot:contact_id", "a:b"),
        ],
    )
    def test_parse(self, text: str, type_: str, value: str) -> None:
        parsed = Identifier.parse(text)
        assert (parsed.type, parsed.value) == (type_, value)
        assert Identifier.parse(str(parsed)) == parsed

    @pytest.mark.parametrize("text", ["ada@example.com", "customer_id:42", ""])
    def test_parse_needs_a_type(self, text: str) -> None:
        with pytest.raises(ValueError, match="expected TYPE:VALUE"):
            Identifier.parse(text)

    @pytest.mark.parametrize(
        ("type_", "value", "rule"),
        [
            ("email", "ada.lovelace@@example.com", "email: is not a valid e-mail address"),
            ("phone", "+44 12", "phone: is not a possible phone number"),
            ("phone", "call me", "phone: is not a phone number"),
            ("user_id", "   ", "user_id: must not be empty"),
            ("Customer ID", "ada.lovelace@example.com", "unknown identifier type"),
        ],
    )
    def test_invalid_names_the_rule_without_the_raw_value(
        self, type_: str, value: str, rule: str
    ) -> None:
        with pytest.raises(ValueError) as caught:
            Identifier(type=type_, value=value)
        message = str(caught.value)
        assert rule in message
        if value.strip():
            assert value.strip() not in message

    def test_parse_error_hides_the_value_too(self) -> None:
        with pytest.raises(ValueError) as caught:
            Identifier.parse("email:ada.lovelace@@example.com")
        assert "ada.lovelace" not in str(caught.value)


class TestEvent:
    def test_segment_identify(self) -> None:
        event = Event.model_validate_json(SEGMENT_IDENTIFY)
        assert event.type is EventType.IDENTIFY
        assert event.user_id == "97980cfea0067"
        assert event.anonymous_id == "507f191e810c19729de860ea"
        assert event.message_id == "022bb90c-bbac-11e4-8dfc-aa07a5b093db"
        assert event.sent_at == datetime(2015, 2, 23, 22, 28, 55, 111000, tzinfo=UTC)
        assert event.traits["plan"] == "premium"
        # Fields the spec adds later are kept, not refused.
        assert event.model_extra == {"channel": "browser", "version": "1.1"}
        assert event.identifiers() == [
            Identifier(type="user_id", value="97980cfea0067"),
            Identifier(type="anonymous_id", value="507f191e810c19729de860ea"),
            Identifier(type="email", value="peter@example.com"),
        ]

    def test_segment_track(self) -> None:
        event = Event.model_validate_json(SEGMENT_TRACK)
        assert event.type is EventType.TRACK
        assert event.event == "Item Purchased"
        assert event.properties["revenue"] == 39.95
        # On a track call the traits travel in the context.
        assert Identifier(type="phone", value="+12015550123") in event.identifiers()

    def test_segment_batch_items(self) -> None:
        body = json.loads(SEGMENT_BATCH)
        events = TypeAdapter(list[Event]).validate_python(body["batch"])
        assert [e.type for e in events] == ["identify", "track", "track"]
        assert events[2].user_id == "971"  # numeric ids are ids, not numbers
        assert events[0].identifiers()[-1] == Identifier(type="email", value="jake@yahoo.com")

    def test_snake_case_and_round_trip(self) -> None:
        event = Event(type="track", user_id="u1", event="Signed Up", properties={"plan": "pro"})
        assert Event.model_validate_json(event.model_dump_json()) == event
        wire = event.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert wire["userId"] == "u1"
        assert Event.model_validate(wire) == event

    @pytest.mark.parametrize(
        ("message", "rule"),
        [
            ({"type": "identify", "traits": {"email": "a@example.com"}}, "userId or anonymousId"),
            ({"type": "track", "userId": "u1"}, "event is required"),
            ({"type": "group", "userId": "u1"}, "groupId is required"),
            ({"type": "alias", "userId": "u1"}, "previousId is required"),
            ({"type": "purchase", "userId": "u1"}, "type"),
        ],
    )
    def test_spec_rules(self, message: dict[str, object], rule: str) -> None:
        with pytest.raises(ValidationError) as caught:
            Event.model_validate(message)
        assert rule in str(caught.value)
        assert "a@example.com" not in str(caught.value)

    def test_group_and_alias(self) -> None:
        group = Event.model_validate({"type": "group", "anonymousId": "a1", "groupId": "acme"})
        assert group.group_id == "acme"
        alias = Event.model_validate({"type": "alias", "userId": "new", "previousId": "old"})
        assert Identifier(type="user_id", value="old") in alias.identifiers()

    def test_external_ids_become_identifiers_of_their_declared_type(self) -> None:
        event = Event.model_validate(
            {
                "type": "track",
                "event": "Order Completed",
                "anonymousId": "a1",
                "context": {
                    "externalIds": [
                        {"id": "Ada@Example.com ", "type": "email", "collection": "users"},
                        {"id": "C-42", "type": "shopify:customer_id", "encoding": "none"},
                        {"id": "GA1.2.3", "type": "ga_client_id", "collection": "users"},
                        {"id": "IDFA-1", "type": "ios.idfa"},
                        {"id": "acme", "type": "salesforce_id", "collection": "accounts"},
                        {"id": "x", "type": "..."},
                        {"id": "", "type": "phone"},
                        "not an object",
                    ]
                },
            }
        )
        assert [str(i) for i in event.identifiers()] == [
            "anonymous_id:a1",
            "email:ada@example.com",
            "shopify:customer_id:C-42",
            "external:ga_client_id:GA1.2.3",
            "external:ios_idfa:IDFA-1",
        ]

    def test_identifiers_skip_malformed_traits(self) -> None:
        event = Event(type="identify", user_id="u1", traits={"email": "not an email", "phone": ""})
        assert event.identifiers() == [Identifier(type="user_id", value="u1")]


class TestMembership:
    def test_ended_before_started_fails(self) -> None:
        start = datetime(2024, 5, 1, tzinfo=UTC)
        with pytest.raises(ValidationError, match="ended_at must not be before started_at"):
            Membership(account_id="acme", started_at=start, ended_at=start - timedelta(days=1))

    def test_open_and_closed_memberships(self) -> None:
        start = datetime(2024, 5, 1, tzinfo=UTC)
        assert Membership(account_id="acme", started_at=start).ended_at is None
        same_day = Membership(account_id="acme", started_at=start, ended_at=start)
        assert same_day.ended_at == start

    def test_naive_and_aware_times_compare_as_utc(self) -> None:
        # A naive time used to crash the validator with a TypeError.
        with pytest.raises(ValidationError, match="ended_at must not be before"):
            Membership(
                account_id="acme",
                started_at=datetime(2024, 5, 1, 12),
                ended_at=datetime(2024, 5, 1, 11, tzinfo=UTC),
            )
        ok = Membership(
            account_id="acme",
            started_at=datetime(2024, 5, 1, 12),
            ended_at=datetime(2024, 5, 1, 13, tzinfo=UTC),
        )
        assert ok.role is None


def test_person_refuses_unknown_keys_and_hides_values() -> None:
    with pytest.raises(ValidationError) as caught:
        Person.model_validate({"email": "ada@example.com", "emial": "ada@example.com"})
    assert "emial" in str(caught.value)
    assert "ada@example.com" not in str(caught.value)


RECORD_DATA = [
    Person(first_name="Ada", email="ada@example.com", attributes={"vip": True}),
    Account(account_id="acme", name="Acme"),
    Account(account_id="initech"),
    Membership(account_id="acme"),
    Membership(account_id="acme", role="CTO"),
    Consent(purpose=ConsentPurpose.EMAIL_MARKETING, granted=False, source="shop"),
    Event(type="track", user_id="u1", event="Order Completed"),
    ScoredTrait(name="churn_risk", value=0.82, model="churn-v3"),
]


class TestSourceRecord:
    @pytest.mark.parametrize(
        ("data", "kind"),
        list(
            zip(
                RECORD_DATA,
                [
                    "person",
                    "account",
                    "account",
                    "membership",
                    "membership",
                    "consent",
                    "event",
                    "score",
                ],
                strict=True,
            )
        ),
    )
    def test_kind(self, data: object, kind: str) -> None:
        assert SourceRecord(stream="s", data=data).kind == kind

    @pytest.mark.parametrize("data", RECORD_DATA)
    @pytest.mark.parametrize("exclude_none", [False, True])
    def test_json_round_trip_keeps_the_class(self, data: object, exclude_none: bool) -> None:
        record = SourceRecord(
            stream="customers",
            record_id="r1",
            identifiers=(Identifier(type="email", value="ada@example.com"),),
            data=data,
        )
        text = record.model_dump_json(exclude_none=exclude_none)
        back = SourceRecord.model_validate_json(text)
        assert back == record
        assert type(back.data) is type(data)

    def test_kind_must_match_data(self) -> None:
        with pytest.raises(ValidationError, match="does not match"):
            SourceRecord.model_validate(
                {"stream": "s", "kind": "account", "data": Membership(account_id="a")}
            )
        with pytest.raises(ValidationError, match="does not match any of the expected tags"):
            SourceRecord.model_validate({"stream": "s", "kind": "order", "data": {}})

    def test_errors_point_into_data(self) -> None:
        with pytest.raises(ValidationError) as caught:
            SourceRecord.model_validate(
                {"stream": "s", "kind": "membership", "data": {"account_id": "a", "role": 3}}
            )
        assert caught.value.errors()[0]["loc"] == ("data", "membership", "role")

    def test_hand_written_json_without_kind(self) -> None:
        record = SourceRecord.model_validate(
            {"stream": "s", "data": {"type": "identify", "userId": "u1"}}
        )
        assert record.kind == "event"

    def test_checkpoint(self) -> None:
        checkpoint = StateCheckpoint(stream="orders", state={"cursor": "2024-05-01"})
        assert StateCheckpoint.model_validate_json(checkpoint.model_dump_json()) == checkpoint


EMAIL = (Identifier(type="email", value="ada@example.com"),)
CHANGES = [
    UpsertPerson(item_id="1", contact_id="c1", identifiers=EMAIL, person=Person(first_name="Ada")),
    UpsertAccount(item_id="2", account=Account(account_id="acme")),
    UpsertMembership(item_id="3", membership=Membership(account_id="acme", role="CTO")),
    TrackEvent(item_id="4", event=Event(type="track", user_id="u1", event="Order Completed")),
    AudienceEntered(item_id="5", contact_id="c1", identifiers=EMAIL, audience="buyers"),
    AudienceExited(item_id="6", contact_id="c1", audience="prospects"),
    Forget(item_id="7", contact_id="c1", identifiers=EMAIL),
]


def test_change_union_round_trips_through_json() -> None:
    adapter = TypeAdapter(list[Change])
    text = adapter.dump_json(CHANGES)
    back = adapter.validate_json(text)
    assert back == CHANGES
    assert [type(c) for c in back] == [type(c) for c in CHANGES]
    assert [c["kind"] for c in json.loads(text)] == [
        "upsert_person",
        "upsert_account",
        "upsert_membership",
        "event",
        "audience_entered",
        "audience_exited",
        "forget",
    ]


def test_change_union_refuses_unknown_kind() -> None:
    with pytest.raises(ValidationError, match="upsert_person"):
        TypeAdapter(Change).validate_python({"kind": "upsert_order", "item_id": "1"})


def test_outcome_union_round_trips_through_json() -> None:
    outcomes = [
        Delivered(item_id="1", external_id="hs-42"),
        RetryAfter(item_id="2", seconds=30, reason="throttled"),
        Rejected(item_id="3", reason="email is required"),
    ]
    adapter = TypeAdapter(list[Outcome])
    back = adapter.validate_json(adapter.dump_json(outcomes))
    assert back == outcomes
    assert [o.status for o in back] == ["delivered", "retry", "rejected"]
    with pytest.raises(ValidationError):
        TypeAdapter(Outcome).validate_python({"item_id": "1", "status": "lost"})
    with pytest.raises(ValidationError):
        RetryAfter(item_id="1", seconds=-1)


def test_records_are_frozen() -> None:
    change = CHANGES[0]
    with pytest.raises(ValidationError):
        change.item_id = "other"  # type: ignore[misc]


def test_a_privacy_request_is_a_record_kind_that_round_trips():
    from spokehub_contracts import PrivacyAction, PrivacyRequest

    record = SourceRecord(
        stream="customers_redact",
        record_id="shop-1:redact:42",
        identifiers=(Identifier(type="email", value="Ada@Example.com"),),
        data=PrivacyRequest(action=PrivacyAction.DELETE, reference="42"),
    )
    assert record.kind == "privacy_request"
    again = SourceRecord.model_validate_json(record.model_dump_json())
    assert again == record and isinstance(again.data, PrivacyRequest)
    # Hand-made JSON without its kind is read as a privacy request by its action.
    bare = SourceRecord.model_validate(
        {"stream": "s", "identifiers": [], "data": {"action": "access"}}
    )
    assert bare.kind == "privacy_request" and bare.data.action is PrivacyAction.ACCESS
    with pytest.raises(ValidationError) as err:
        PrivacyRequest.model_validate({"action": "shred"})
    assert "action" in str(err.value) and "shred" not in str(err.value)


def test_a_destination_declares_its_external_ids_as_a_namespaced_identifier_type() -> None:
    assert Capabilities().external_id_type is None
    declared = Capabilities(external_id_type="hubspot:contact_id")
    assert declared.external_id_type == "hubspot:contact_id"
    for bad in ("email", "contact_id", "HubSpot:Contact Id"):
        with pytest.raises(ValueError, match="namespaced identifier type"):
            Capabilities(external_id_type=bad)


def test_person_fields_carry_pii_classes_that_drive_redaction():
    from spokehub_contracts import Person, is_sensitive_key, pii_classes

    classes = pii_classes(Person)
    assert classes["email"] == classes["phone"] == classes["address"] == "contact"
    assert classes["birthday"] == classes["gender"] == "sensitive"
    assert classes["title"] == classes["created_at"] == "none"
    assert set(classes) == set(Person.model_fields)
    for key in ("first_name", "lastName", "birthday", "address", "e-mail", "api_key"):
        assert is_sensitive_key(key), key
    for key in ("title", "plan", "event", "author"):
        assert not is_sensitive_key(key), key
