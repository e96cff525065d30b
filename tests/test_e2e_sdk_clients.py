"""Published Segment and RudderStack clients send to a live ``spokehub serve`` unchanged."""

from __future__ import annotations

import pytest

from .daemon import WRITE_KEY, Daemon, free_port, write_project

pytestmark = pytest.mark.slow


@pytest.fixture
def daemon(tmp_path):
    port = free_port()
    d = Daemon(write_project(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", port), port).start()
    yield d
    assert d.stop() == 0  # graceful SIGTERM exits 0


def _segment(url: str):
    from segment.analytics.client import Client

    return Client(WRITE_KEY, host=url, sync_mode=True, max_retries=0)


def _rudder(url: str):
    from rudderstack.analytics.client import Client

    return Client(WRITE_KEY, host=url, sync_mode=True, max_retries=0)


@pytest.mark.parametrize("make_client", [_segment, _rudder], ids=["segment", "rudderstack"])
def test_two_devices_then_login_make_one_profile(daemon, make_client):
    client = make_client(daemon.url)
    client.identify(anonymous_id="device-1", traits={"plan": "free"})
    client.track(anonymous_id="device-1", event="Viewed Product", properties={"sku": "A1"})
    client.identify(anonymous_id="device-2", traits={"firstName": "Ada"})
    client.track(anonymous_id="device-2", event="Added To Cart", properties={"sku": "A1"})
    client.identify(user_id="user-42", anonymous_id="device-1", traits={"email": "ada@example.com"})
    client.identify(user_id="user-42", anonymous_id="device-2")
    client.track(user_id="user-42", event="Order Completed", properties={"total": 30})
    client.flush()
    daemon.wait_idle()

    r = daemon.admin("/v1/profiles", identifier="user_id:user-42")
    assert r.status_code == 200, r.text
    profile = r.json()
    contact_id = profile["contact_id"]
    idents = {(i["type"], i["value"]) for i in profile["profile"]["identifiers"]}
    assert {
        ("user_id", "user-42"),
        ("anonymous_id", "device-1"),
        ("anonymous_id", "device-2"),
        ("email", "ada@example.com"),
    } <= idents
    for device in ("device-1", "device-2"):
        other = daemon.admin("/v1/profiles", identifier=f"anonymous_id:{device}")
        assert other.json()["contact_id"] == contact_id
    traits = profile["profile"]["traits"]
    assert traits["first_name"]["value"] == "Ada"
    assert traits["plan"]["value"] == "free"

    events = daemon.admin(f"/v1/profiles/{contact_id}/events").json()["events"]
    tracked = sorted(e["event"] for e in events if e["type"] == "track")
    assert tracked == ["Added To Cart", "Order Completed", "Viewed Product"]
    assert len([e for e in events if e["type"] == "identify"]) == 4
    assert daemon.admin(f"/v1/profiles/{contact_id}/explain").status_code == 200
