"""Every person upsert carries the whole profile: traits, scores and consents, identifier
traits normalized (the raw value kept in the trait's provenance)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from spokehub.delivery.mapping import apply_mapping
from spokehub.pipeline import Pipeline
from spokehub.profiles import profile_view
from spokehub.store.tables import inbox
from spokehub_contracts import (
    Consent,
    ConsentPurpose,
    Identifier,
    ScoredTrait,
    SourceRecord,
    UpsertPerson,
    utcnow,
)

from .helpers import feed, outbox_rows, project, registry


def _record(engine, record: SourceRecord, source: str = "web") -> None:
    with engine.begin() as conn:
        conn.execute(
            inbox.insert(),
            {
                "connection": source,
                "kind": "record",
                "body": record.model_dump_json(),
                "received_at": utcnow(),
            },
        )


def _upserts(engine) -> list[dict]:
    return [orjson.loads(r["item"]) for r in outbox_rows(engine) if r["kind"] == "upsert_person"]


def test_every_upsert_carries_current_traits_scores_and_consents(engine):
    pipeline = Pipeline(engine, project(), registry(), batch_size=50)
    email = Identifier(type="email", value="ada.lovelace@example.com")
    feed(
        engine,
        [
            {
                "type": "identify",
                "userId": "u1",
                "traits": {"email": "ADA.Lovelace@example.com ", "phone": "(415) 555-0100"},
            }
        ],
    )
    pipeline.drain()
    computed = datetime(2024, 5, 1, 12, tzinfo=UTC)
    score = ScoredTrait(name="churn_risk", value=0.83, model="churn-v3", computed_at=computed)
    consent = Consent(purpose=ConsentPurpose.EMAIL_MARKETING, granted=True, source="shop")
    _record(engine, SourceRecord(stream="scores", identifiers=(email,), data=score))
    _record(engine, SourceRecord(stream="optins", identifiers=(email,), data=consent))
    pipeline.drain()
    # A record that changes neither scores nor consents: its upsert still carries them.
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"firstName": "Ada"}}])
    pipeline.drain()

    first, after_score, last = _upserts(engine)
    assert first["person"]["email"] == "ada.lovelace@example.com"
    assert first["person"]["phone"] == "+14155550100"
    assert first["scores"] == {} and first["consents"] == {}
    assert after_score["scores"] == {"churn_risk": 0.83}
    assert last["person"]["first_name"] == "Ada"
    assert last["person"]["email"] == "ada.lovelace@example.com"
    assert last["scores"] == {"churn_risk": 0.83}
    assert last["score_details"]["churn_risk"] == {
        "name": "churn_risk",
        "value": 0.83,
        "model": "churn-v3",
        "computed_at": "2024-05-01T12:00:00Z",
    }
    assert last["consents"] == {"email_marketing": True}

    with engine.connect() as conn:
        view = profile_view(conn, last["contact_id"], pipeline.rules)
    assert view.traits["email"].value == "ada.lovelace@example.com"
    assert view.traits["email"].raw == "ADA.Lovelace@example.com "
    assert view.traits["first_name"].raw is None


def test_a_route_maps_a_score_and_a_consent_from_any_upsert():
    change = UpsertPerson.model_validate(
        {
            "item_id": "1",
            "contact_id": "c1",
            "person": {"email": "ada@example.com"},
            "scores": {"churn_risk": 0.83},
            "score_details": {
                "churn_risk": {
                    "name": "churn_risk",
                    "value": 0.83,
                    "model": "churn-v3",
                    "computed_at": "2024-05-01T12:00:00Z",
                }
            },
            "consents": {"email_marketing": False},
        }
    )
    mapped = apply_mapping(
        change,
        {
            "churn": "scores.churn_risk",
            "churn_model": "score_details.churn_risk.model",
            "newsletter": "consents.email_marketing",
            "hub_id": "contact_id",
        },
    )
    assert mapped.person.attributes == {
        "churn": 0.83,
        "churn_model": "churn-v3",
        "newsletter": False,
        "hub_id": "c1",
    }
