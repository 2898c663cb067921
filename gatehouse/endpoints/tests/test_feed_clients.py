"""The API sync clients against local fake servers: paging, 429 Retry-After, auth errors, secrets never shown;
the hourly job syncing every configured source together."""

from __future__ import annotations

import logging

import pytest

from gatehouse.access.connectors.base import ConnectorError, ConnectorNotConfigured
from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.endpoints import checks
from gatehouse.endpoints.feeds import clients
from gatehouse.endpoints.feeds.jobs import run_sync, sync_feeds
from gatehouse.endpoints.models import Device, FeedImport, SourceRecord
from gatehouse.endpoints.tests.fake_feeds import (
    CS_ID,
    CS_SECRET,
    ISSUED,
    JAMF_ID,
    JAMF_SECRET,
    S1_TOKEN,
    FakeCrowdStrike,
    FakeJamf,
    FakeSentinelOne,
    fast_feeds,  # noqa: F401
)
from gatehouse.endpoints.tests.test_feed_parsers import cs_device, jamf_computer, s1_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(clients, "JAMF_PAGE_SIZE", 2)
    monkeypatch.setattr(clients, "S1_PAGE_SIZE", 2)
    monkeypatch.setattr(clients, "CS_QUERY_LIMIT", 2)
    monkeypatch.setattr(clients, "CS_DETAILS_BATCH", 3)


@pytest.fixture
def jamf_server(fast_feeds):  # noqa: F811
    server = FakeJamf([jamf_computer(f"J{i}", id=str(i)) for i in range(5)])
    fast_feeds.GATEHOUSE_JAMF_URL = server.url
    fast_feeds.GATEHOUSE_JAMF_CLIENT_ID = JAMF_ID
    fast_feeds.GATEHOUSE_JAMF_CLIENT_SECRET = JAMF_SECRET
    yield server
    server.close()


@pytest.fixture
def s1_server(fast_feeds):  # noqa: F811
    server = FakeSentinelOne([s1_agent(f"S{i}", id=str(i)) for i in range(5)])
    fast_feeds.GATEHOUSE_SENTINELONE_URL = server.url
    fast_feeds.GATEHOUSE_SENTINELONE_API_TOKEN = S1_TOKEN
    yield server
    server.close()


@pytest.fixture
def cs_server(fast_feeds):  # noqa: F811
    server = FakeCrowdStrike([cs_device(f"C{i}", device_id=f"dev{i}") for i in range(5)])
    fast_feeds.GATEHOUSE_CROWDSTRIKE_URL = server.url
    fast_feeds.GATEHOUSE_CROWDSTRIKE_CLIENT_ID = CS_ID
    fast_feeds.GATEHOUSE_CROWDSTRIKE_CLIENT_SECRET = CS_SECRET
    yield server
    server.close()


def test_jamf_pages_with_client_credentials(jamf_server, small_pages):
    run = clients.sync_source("jamf", actor=SYSTEM)
    assert (run.state, run.created, run.origin) == ("done", 5, jamf_server.url)
    token_request = jamf_server.requests[0]
    assert token_request["body"] == {
        "grant_type": "client_credentials",
        "client_id": JAMF_ID,
        "client_secret": JAMF_SECRET,
    }
    pages = [r["query"]["page"][0] for r in jamf_server.requests[1:]]
    assert pages == ["0", "1", "2"]
    assert jamf_server.requests[1]["query"]["section"] == [
        "GENERAL",
        "HARDWARE",
        "OPERATING_SYSTEM",
        "DISK_ENCRYPTION",
        "USER_AND_LOCATION",
    ]
    assert jamf_server.requests[1]["headers"]["Authorization"] == f"Bearer {ISSUED}"
    assert SourceRecord.objects.filter(source="jamf").count() == 5


def test_sentinelone_follows_the_cursor(s1_server, small_pages):
    run = clients.sync_source("sentinelone", actor=SYSTEM)
    assert run.created == 5
    cursors = [r["query"].get("cursor", [None])[0] for r in s1_server.requests]
    assert cursors == [None, "2", "4"]
    assert all(r["headers"]["Authorization"] == f"ApiToken {S1_TOKEN}" for r in s1_server.requests)


def test_crowdstrike_queries_ids_then_details(cs_server, small_pages):
    run = clients.sync_source("crowdstrike", actor=SYSTEM)
    assert run.created == 5
    paths = cs_server.paths()
    assert paths[0] == "/oauth2/token"
    assert paths[1:4] == ["/devices/queries/devices/v1"] * 3
    detail_calls = [r for r in cs_server.requests if r["path"] == "/devices/entities/devices/v2"]
    assert [r["body"]["ids"] for r in detail_calls] == [["dev0", "dev1", "dev2"], ["dev3", "dev4"]]


def test_429_waits_the_retry_after(s1_server):
    s1_server.script(429, {"Retry-After": "3"})
    waits = []
    feed = clients.SentinelOneClient(sleep=waits.append).fetch()
    assert len(feed.records) == 5
    assert waits == [3.0]


def test_429_asking_too_long_fails_and_records_it(s1_server):
    s1_server.script(429, {"Retry-After": "120"})
    with pytest.raises(ConnectorError, match="asked to wait 120s"):
        clients.sync_source("sentinelone", actor=SYSTEM, sleep=lambda s: None)
    failed = FeedImport.objects.get()
    assert failed.state == "failed" and "rate limited" in failed.error
    assert not Device.objects.exists()


def test_token_retry_on_429_for_form_posts(cs_server):
    cs_server.script(429, {"Retry-After": "1"})
    waits = []
    assert len(clients.CrowdStrikeClient(sleep=waits.append).fetch().records) == 5
    assert waits == [1.0]


@pytest.mark.parametrize("which", ["jamf", "sentinelone", "crowdstrike"])
def test_wrong_credentials_are_a_clear_auth_error_without_the_secret(
    which,
    jamf_server,
    s1_server,
    cs_server,
    settings,
    caplog,
):
    settings.GATEHOUSE_JAMF_CLIENT_SECRET = "wrong-jamf-SECRET"
    settings.GATEHOUSE_SENTINELONE_API_TOKEN = "wrong-s1-TOKEN"
    settings.GATEHOUSE_CROWDSTRIKE_CLIENT_SECRET = "wrong-cs-SECRET"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectorError) as caught:
        clients.sync_source(which, actor=SYSTEM)
    assert caught.value.kind == "auth"
    assert "refused the credentials (HTTP 401)" in str(caught.value)
    failed = FeedImport.objects.get()
    for secret in ("wrong-jamf-SECRET", "wrong-s1-TOKEN", "wrong-cs-SECRET"):
        assert secret not in str(caught.value) and secret not in failed.error and secret not in caplog.text


def test_not_configured(settings):
    settings.GATEHOUSE_SENTINELONE_URL = ""
    settings.GATEHOUSE_SENTINELONE_API_TOKEN = ""
    with pytest.raises(
        ConnectorNotConfigured, match="GATEHOUSE_SENTINELONE_URL, GATEHOUSE_SENTINELONE_API_TOKEN"
    ):
        clients.SentinelOneClient()
    assert run_sync("sentinelone") == {"source": "sentinelone", "state": "not configured"}
    assert not FeedImport.objects.exists()


def test_scheduled_job_syncs_and_reports(s1_server):
    assert "sentinelone" in clients.configured_sources()
    result = run_sync("sentinelone")
    assert result["state"] == "done" and result["created"] == 5
    again = run_sync("sentinelone")
    assert again["unchanged"] == 5 and again["created"] == 0


def test_malformed_page_imports_nothing(s1_server):
    s1_server.records[3]["infected"] = "perhaps"
    result = run_sync("sentinelone")
    assert result["state"] == "failed" and "record 4: infected" in result["error"]
    assert not Device.objects.exists()
    assert FeedImport.objects.get().state == "failed"


# --- syncing several sources together: sync_sources and the hourly job -----------------------------------------


@pytest.fixture
def no_crowdstrike(settings):
    settings.GATEHOUSE_CROWDSTRIKE_CLIENT_ID = ""
    settings.GATEHOUSE_CROWDSTRIKE_CLIENT_SECRET = ""


@pytest.fixture
def check_runs(monkeypatch):
    """The device ids of each check run an import starts."""
    runs = []
    real = checks.run_checks

    def run_checks(device_ids=None, **kwargs):
        runs.append(sorted(device_ids))
        return real(device_ids, **kwargs)

    monkeypatch.setattr(checks, "run_checks", run_checks)
    return runs


def test_sync_sources_imports_the_fetched_feeds_together(jamf_server, s1_server, no_crowdstrike, check_runs):
    s1_server.records = [s1_agent(f"J{i}", id=str(i)) for i in range(5)]  # the same machines as Jamf's
    outcomes = clients.sync_sources(["jamf", "sentinelone"], actor=SYSTEM)
    assert list(outcomes) == ["jamf", "sentinelone"]
    assert [(o.run.state, o.run.created, o.run.origin, o.error) for o in outcomes.values()] == [
        ("done", 5, jamf_server.url, None),
        ("done", 5, s1_server.url, None),
    ]
    assert Device.objects.count() == 5
    assert all(sorted(d.records.values_list("source", flat=True)) == ["jamf", "sentinelone"]
               for d in Device.objects.all())  # fmt: skip
    assert check_runs == [sorted(Device.objects.values_list("pk", flat=True))]  # once, for both feeds


def test_sync_sources_refuses_a_source_twice_and_an_unconfigured_one(jamf_server, no_crowdstrike):
    with pytest.raises(ValueError, match="source given more than once: jamf"):
        clients.sync_sources(["jamf", "jamf"], actor=SYSTEM)
    with pytest.raises(ConnectorNotConfigured, match="GATEHOUSE_CROWDSTRIKE_CLIENT_ID"):
        clients.sync_sources(["jamf", "crowdstrike"], actor=SYSTEM)
    assert jamf_server.requests == [] and not FeedImport.objects.exists()  # nothing fetched


def test_sync_job_imports_the_others_when_a_source_fails_auth(
    jamf_server, s1_server, no_crowdstrike, settings
):
    settings.GATEHOUSE_SENTINELONE_API_TOKEN = "wrong-s1-TOKEN"
    assert clients.configured_sources() == ["jamf", "sentinelone"]
    result = sync_feeds.call_local()
    assert set(result) == {"jamf", "sentinelone"}
    assert result["jamf"] == {"state": "done", "records": 5, "created": 5, "changed": 0, "unchanged": 0}
    assert result["sentinelone"]["state"] == "failed"
    assert "refused the credentials (HTTP 401)" in result["sentinelone"]["error"]
    assert "wrong-s1-TOKEN" not in result["sentinelone"]["error"]
    jamf_run = FeedImport.objects.get(source="jamf")
    failed = FeedImport.objects.get(source="sentinelone")
    assert (jamf_run.state, jamf_run.created) == ("done", 5)
    assert (failed.state, failed.origin) == ("failed", s1_server.url)
    assert failed.error == result["sentinelone"]["error"]
    assert set(SourceRecord.objects.values_list("source", flat=True)) == {"jamf"}
    assert Device.objects.count() == 5
    event = AuditEvent.objects.get(object_type="endpoints.feedimport", object_id=str(jamf_run.pk))
    assert (event.source, event.actor_label) == ("job", "job:sync_feeds")
    # The next hour, with the token fixed: SentinelOne imports, Jamf's records are unchanged.
    settings.GATEHOUSE_SENTINELONE_API_TOKEN = S1_TOKEN
    again = sync_feeds.call_local()
    assert again["jamf"]["unchanged"] == 5 and again["sentinelone"]["created"] == 5


def test_sync_job_without_configured_sources_does_nothing(settings):
    for name in (
        "GATEHOUSE_JAMF_URL",
        "GATEHOUSE_JAMF_CLIENT_ID",
        "GATEHOUSE_JAMF_CLIENT_SECRET",
        "GATEHOUSE_SENTINELONE_URL",
        "GATEHOUSE_SENTINELONE_API_TOKEN",
        "GATEHOUSE_CROWDSTRIKE_CLIENT_ID",
        "GATEHOUSE_CROWDSTRIKE_CLIENT_SECRET",
    ):
        setattr(settings, name, "")
    assert clients.configured_sources() == []
    assert sync_feeds.call_local() == {"state": "not configured"}
    assert not FeedImport.objects.exists() and not AuditEvent.objects.exists()


def test_sync_job_is_the_one_scheduled_sync_hourly_at_5():
    import datetime

    from huey.contrib.djhuey import HUEY

    from gatehouse.endpoints import tasks

    assert tasks.sync_feeds is sync_feeds
    periodic = {task.__name__: task for task in HUEY._registry._periodic_tasks}
    # One job for every feed: the per-source jobs it replaced are gone.
    assert "sync_feeds" in periodic
    assert not {"sync_jamf", "sync_sentinelone", "sync_crowdstrike"} & set(periodic)
    due = periodic["sync_feeds"]().validate_datetime
    assert due(datetime.datetime(2026, 11, 30, 9, 5)) and due(datetime.datetime(2026, 11, 30, 10, 5))
    assert not due(datetime.datetime(2026, 11, 30, 9, 15))
