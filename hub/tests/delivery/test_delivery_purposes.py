"""The consent gate on every send: a destination's purposes (its connection's
``purposes:`` or its spoke's suggestion) decide what a denial holds back; consent and
forget changes always go out; a suppressed row names the purpose it was held back for."""

from __future__ import annotations

from delivery_helpers import FAST, destination_class, event, fill, plugin, rows

from spokehub.config import validate
from spokehub.delivery.lanes import build_lanes
from spokehub.delivery.status import lane_status
from spokehub.registry import Registry
from spokehub_contracts import Consent, ConsentChanged, Forget, Identifier


def _ads_class():
    from spokehub.testing.fake_spoke import ALL_KINDS

    cls = destination_class("ads-tool", record_kinds=(*ALL_KINDS, "consent", "forget"))
    cls.capabilities = cls.capabilities.model_copy(update={"purposes": ("ads_personalization",)})
    return cls


def _lane(engine, url, cls, connection_extra=None, consents=None):
    registry = Registry.load(allow=[], extra_plugins=[("fake", plugin(cls))])
    conn = {"kind": "destination", "spoke": cls.name, "config": {"base_url": url}}
    conn.update(connection_extra or {})
    project = validate({"connections": {"crm": conn}}, registry)
    kwargs = {"consent_reader": consents} if consents else {}
    [lane] = build_lanes(engine, project, registry, settings=FAST, **kwargs)
    return lane


def _denied_ads(engine, contact_ids):
    return {"c1": {"ads_personalization": False, "email_marketing": True}}


def _consent(item_id: str) -> ConsentChanged:
    return ConsentChanged(
        item_id=item_id,
        contact_id="c1",
        identifiers=(Identifier(type="email", value="ada@example.com"),),
        consent=Consent(purpose="ads_personalization", granted=False, source="web"),
    )


async def test_the_spokes_purposes_gate_sends_without_a_route_purpose(sqlite_engine, vendors):
    vendor = vendors()
    fill(sqlite_engine, "crm", [event("e1", "c1"), event("e2", "c2")])
    fill(sqlite_engine, "crm", [_consent("k1")], route="(consent)")
    fill(sqlite_engine, "crm", [Forget(item_id="f1", contact_id="c1")])
    lane = _lane(sqlite_engine, vendor.url, _ads_class(), consents=_denied_ads)
    assert lane.purposes == ("ads_personalization",)
    await lane.run_once()
    await lane.spoke.aclose()
    by_item = {r.item.split('"item_id":"')[1].split('"')[0]: r for r in rows(sqlite_engine)}
    assert by_item["e1"].status == "suppressed"
    assert by_item["e1"].purpose == "ads_personalization"
    assert "ads_personalization denied" in by_item["e1"].last_error
    # Another person's send, the consent change itself and an erasure all go out.
    assert {k: r.status for k, r in by_item.items() if k != "e1"} == {
        "e2": "delivered",
        "k1": "delivered",
        "f1": "delivered",
    }
    [status] = lane_status(sqlite_engine, ["crm"])
    assert status.suppressed == 1
    assert status.suppressed_by_purpose == {"ads_personalization": 1}


async def test_the_connections_purposes_override_the_spokes(sqlite_engine, vendors):
    vendor = vendors()
    fill(sqlite_engine, "crm", [event("e1", "c1")])
    lane = _lane(
        sqlite_engine, vendor.url, _ads_class(), {"purposes": ["email_marketing"]}, _denied_ads
    )
    assert lane.purposes == ("email_marketing",)
    await lane.run_once()
    await lane.spoke.aclose()
    assert [r.status for r in rows(sqlite_engine)] == ["delivered"]


async def test_a_connection_serving_no_purpose_sends_past_any_denial(sqlite_engine, vendors):
    vendor = vendors()
    fill(sqlite_engine, "crm", [event("e1", "c1")])
    lane = _lane(sqlite_engine, vendor.url, _ads_class(), {"purposes": []}, _denied_ads)
    assert lane.purposes == ()
    await lane.run_once()
    await lane.spoke.aclose()
    assert [r.status for r in rows(sqlite_engine)] == ["delivered"]


async def test_a_routes_purpose_wins_over_the_destinations(sqlite_engine, vendors):
    vendor = vendors()
    fill(sqlite_engine, "crm", [event("e1", "c1")], purpose="email_marketing")
    lane = _lane(sqlite_engine, vendor.url, _ads_class(), consents=_denied_ads)
    await lane.run_once()
    await lane.spoke.aclose()
    assert [r.status for r in rows(sqlite_engine)] == ["delivered"]


def test_purposes_belong_to_destinations():
    from spokehub._errors import ConfigErrors

    try:
        validate({"connections": {"web": {"kind": "source", "purposes": ["analytics"]}}})
    except ConfigErrors as exc:
        assert "purposes belong to destinations only" in str(exc)
    else:
        raise AssertionError("a source with purposes was accepted")
