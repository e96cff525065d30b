"""The source side: contacts and companies by last-modified date, memberships, the
search API's cap and limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot_source_vendor import Portal, ticking

from spokehub_contracts import Account, CheckStatus, Membership, Person, RateLimit
from spokehub_contracts.testing import FakeClock
from spokehub_hubspot import SEARCH_RESULT_CAP, HubSpotSource
from spokehub_hubspot.testing import HubSpotSandbox


@pytest.fixture
def portal() -> Iterator[Portal]:
    clock = FakeClock()
    sandbox = HubSpotSandbox(clock=clock, now=ticking())
    sandbox.seed(contacts=250, companies=30)
    with Portal.serving(sandbox, clock) as portal:
        yield portal


def test_contacts_become_persons_with_their_companies_as_memberships(portal: Portal) -> None:
    done = portal.read("contacts")
    persons = done.of_kind("person")
    assert len(persons) == 250 and len({p.record_id for p in persons}) == 250
    first = persons[0]
    assert {(i.type, i.value) for i in first.identifiers} == {
        ("hubspot:contact_id", first.record_id),
        ("email", "person0@example.com"),
    }
    person = first.data
    assert isinstance(person, Person)
    assert (person.first_name, person.title) == ("Person0", "Buyer")
    assert person.attributes == {"lifecyclestage": "lead"}
    memberships = done.of_kind("membership")
    assert len(memberships) == 250
    company_ids = sorted(portal.sandbox.companies, key=int)
    membership = next(m for m in memberships if m.identifiers == first.identifiers).data
    assert isinstance(membership, Membership)
    assert membership.account_id == f"hubspot:company:{company_ids[0]}"
    # Pages of 100: three searches, each with its association read.
    assert len(portal.searches()) == 3
    assert (
        len(portal.sandbox.requests_to("/crm/v4/associations/{from_type}/{to_type}/batch/read"))
        == 3
    )


def test_companies_become_accounts_named_by_their_hubspot_id(portal: Portal) -> None:
    done = portal.read("companies")
    accounts = [r.data for r in done.of_kind("account")]
    assert len(accounts) == 30
    account = accounts[0]
    assert isinstance(account, Account)
    assert account.account_id.startswith("hubspot:company:")
    assert account.attributes["domain"] == "org0.example.com"
    assert (account.name, account.employees) == ("Org 0", 10)


def test_a_second_run_reads_only_what_changed(portal: Portal) -> None:
    first = portal.read("contacts")
    assert len(first.of_kind("person")) == 250
    ids = sorted(portal.sandbox.contacts, key=int)
    portal.sandbox.touch("contacts", ids[10], jobtitle="Head buyer")
    portal.sandbox.touch("contacts", ids[200], lastname="Changed")
    before = len(portal.searches())
    second = portal.read("contacts", first.state)
    assert sorted(p.record_id for p in second.of_kind("person")) == sorted([ids[10], ids[200]])
    person = next(p.data for p in second.of_kind("person") if p.record_id == ids[10])
    assert isinstance(person, Person) and person.title == "Head buyer"
    # One search, filtered on lastmodifieddate from the first run's newest.
    [search] = portal.searches()[before:]
    [group] = search["filterGroups"]
    [condition] = group["filters"]
    assert (condition["propertyName"], condition["operator"]) == ("lastmodifieddate", "GTE")
    assert search["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    third = portal.read("contacts", second.state)
    assert third.records == []


def test_companies_are_read_by_hs_lastmodifieddate(portal: Portal) -> None:
    first = portal.read("companies")
    company = sorted(portal.sandbox.companies, key=int)[3]
    portal.sandbox.touch("companies", company, name="Org Three")
    second = portal.read("companies", first.state)
    assert [r.record_id for r in second.records] == [company]
    condition = portal.searches()[-1]["filterGroups"][0]["filters"][0]
    assert condition["propertyName"] == "hs_lastmodifieddate"


def test_more_than_10000_results_are_read_by_moving_the_cursor() -> None:
    clock = FakeClock()
    sandbox = HubSpotSandbox(clock=clock, now=ticking(), rate_limit=None)
    sandbox.seed(contacts=SEARCH_RESULT_CAP + 450)
    with Portal.serving(sandbox, clock) as portal:
        done = portal.read("contacts", page_size=200)
    persons = done.of_kind("person")
    assert len(persons) == SEARCH_RESULT_CAP + 450
    assert len({p.record_id for p in persons}) == SEARCH_RESULT_CAP + 450
    searches = [r.json() for r in sandbox.requests if r.path.endswith("/search")]
    # A second query from the newest read once the first had paged 10,000.
    restarts = [s for s in searches[1:] if "after" not in s]
    assert len(restarts) == 1
    assert all(int(s.get("after", 0)) + 200 <= SEARCH_RESULT_CAP for s in searches)
    assert {r.status for r in sandbox.requests} == {200}


def test_the_search_apis_secondly_limit_is_waited_out() -> None:
    clock = FakeClock()
    # A portal stricter than the spoke's pace: two searches a second.
    sandbox = HubSpotSandbox(
        clock=clock, now=ticking(), rate_limit={"search": RateLimit(requests=2, per_seconds=1)}
    )
    sandbox.seed(companies=300)
    with Portal.serving(sandbox, clock) as portal:
        done = portal.read("companies", page_size=20)
    assert len(done.of_kind("account")) == 300
    refused = [r for r in sandbox.requests if r.status == 429]
    assert refused and sandbox.rate_rejections == len(refused)
    assert all(r.route.endswith("/search") for r in refused)
    # Each 429 said SECONDLY: the next search came a second later.
    for number, request in enumerate(sandbox.requests[:-1]):
        if request.status == 429:
            following = sandbox.requests[number + 1]
            assert following.at - request.at >= 1.0 - 1e-6


def test_a_bad_birthday_is_rejected_with_its_field(portal: Portal) -> None:
    contact = sorted(portal.sandbox.contacts, key=int)[0]
    portal.sandbox.touch("contacts", contact, date_of_birth="not a date")
    done = portal.read("contacts")
    [rejected] = done.rejected
    assert rejected.field == "birthday" and rejected.location == f"contacts {contact}"
    assert len(done.of_kind("person")) == 249


def test_check_tells_a_refused_token(portal: Portal) -> None:
    import asyncio

    async def check(token: str) -> CheckStatus:
        source = HubSpotSource(portal.config(access_token=token))
        try:
            return (await source.check()).status
        finally:
            await source.aclose()

    assert asyncio.run(check("pat-na1-wrong")) is CheckStatus.AUTH_ERROR
    assert asyncio.run(check(portal.config().access_token.get_secret_value())) is CheckStatus.OK


def test_the_readme_source_example_validates() -> None:
    import re
    from pathlib import Path

    yaml = pytest.importorskip("yaml")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)]
    [connection] = [c for b in blocks for c in b["connections"].values() if c["kind"] == "source"]
    assert connection["spoke"] == HubSpotSource.name
    config = {**connection["config"], "access_token": "pat-na1-from-the-environment"}
    model = HubSpotSource.Config.model_validate(config)
    assert model.contact_properties == ("hs_lead_status",) and model.page_size == 100
    for name in ("lastmodifieddate", "hs_lastmodifieddate", "SECONDLY", "GTE"):
        assert f"`{name}`" in readme, name


def test_the_daily_limit_is_left_to_the_hub_with_its_wait(portal: Portal) -> None:
    from spokehub_contracts import Throttled

    portal.sandbox.exhaust_daily_limit()
    with pytest.raises(Throttled) as raised:
        portal.read("contacts")
    # Until midnight in the account's time zone: longer than the client waits itself.
    assert raised.value.retry_after > 60
    assert "DAILY" in str(raised.value) or "daily" in str(raised.value)
