"""Published Segment and RudderStack clients send to a live ``spokehub serve`` unchanged."""

from __future__ import annotations

import pytest

from .daemon import WRITE_KEY, Daemon, free_port, write_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """One daemon for the module: each client's test uses identifiers of its own."""
    directory = tmp_path_factory.mktemp("sdk")
    port = free_port()
    d = Daemon(write_project(directory, f"sqlite:///{directory / 'hub.db'}", port), port)
    d.start()
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
    # The daemon is shared: every identifier carries the client's name.
    sdk = make_client.__name__.strip("_")
    device_1, device_2, user = f"{sdk}-device-1", f"{sdk}-device-2", f"{sdk}-user-42"
    email = f"ada-{sdk}@example.com"
    client.identify(anonymous_id=device_1, traits={"plan": "free"})
    client.track(anonymous_id=device_1, event="Viewed Product", properties={"sku": "A1"})
    client.identify(anonymous_id=device_2, traits={"firstName": "Ada"})
    client.track(anonymous_id=device_2, event="Added To Cart", properties={"sku": "A1"})
    client.identify(user_id=user, anonymous_id=device_1, traits={"email": email})
    client.identify(user_id=user, anonymous_id=device_2)
    client.track(user_id=user, event="Order Completed", properties={"total": 30})
    client.flush()
    daemon.wait_idle()

    r = daemon.admin("/v1/profiles", identifier=f"user_id:{user}")
    assert r.status_code == 200, r.text
    profile = r.json()
    contact_id = profile["contact_id"]
    idents = {(i["type"], i["value"]) for i in profile["profile"]["identifiers"]}
    assert {
        ("user_id", user),
        ("anonymous_id", device_1),
        ("anonymous_id", device_2),
        ("email", email),
    } <= idents
    for device in (device_1, device_2):
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


def test_a_flood_is_held_back_with_503_and_every_event_the_sdk_accepted_is_stored_once(
    tmp_path, store_url
):
    """Backpressure end to end: with a high-water mark of 200 pending rows, the Segment
    SDK's flood is answered 503 with Retry-After; the SDK waits, sends again, and in the
    end every event it accepted (it drops beyond its own queue, and reports what it
    drops) is in the inbox once and processed once."""
    from segment.analytics.client import Client
    from sqlalchemy import text

    from spokehub.store import create_store_engine

    port = free_port()
    server = {"backpressure": {"max_pending": 200, "retry_after_seconds": 1}}
    d = Daemon(write_project(tmp_path, store_url, port, server=server), port).start()
    try:
        dropped: list[str] = []
        client = Client(
            WRITE_KEY,
            host=d.url,
            on_error=lambda _exc, batch: dropped.extend(m["messageId"] for m in batch),
        )
        accepted = []
        for n in range(2000):
            ok, msg = client.track(
                user_id=f"user-{n % 40}",
                event="Flooded",
                properties={"n": n},
                message_id=f"flood-{n}",
            )
            if ok:
                accepted.append(msg["messageId"])
        client.shutdown()  # sends everything queued, waiting out each Retry-After
        d.wait_idle(timeout=120)
        metrics = d.metrics()
    finally:
        assert d.stop() == 0

    refused = [
        line
        for line in metrics.splitlines()
        if line.startswith('spokehub_requests_rejected_total{code="backlog_full"}')
    ]
    assert refused and float(refused[0].split()[-1]) > 0, "the flood was never held back"
    expected = set(accepted) - set(dropped)
    assert len(expected) > 0
    engine = create_store_engine(store_url)
    try:
        with engine.connect() as conn:
            inbox = conn.execute(
                text("SELECT message_id, count(*) FROM inbox GROUP BY message_id")
            ).all()
            events = conn.execute(
                text("SELECT message_id, count(*) FROM events GROUP BY message_id")
            ).all()
    finally:
        engine.dispose()
    assert {mid for mid, _ in inbox} == expected
    assert {count for _, count in inbox} == {1}
    assert {mid for mid, _ in events} == expected
    assert {count for _, count in events} == {1}
