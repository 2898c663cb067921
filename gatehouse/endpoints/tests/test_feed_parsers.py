"""Feed parsers: real samples, the vendors' documented shapes, and arbitrary input (only ParseError escapes)."""

from __future__ import annotations

import contextlib
import datetime
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatehouse.endpoints.feeds import (
    PARSERS,
    ParseError,
    crowdstrike,
    drivestrike,
    jamf,
    parse_feed,
    sentinelone,
)

UTC = datetime.UTC


def jamf_computer(serial="C02ABC123DEF", **overrides):
    record = {
        "id": "17",
        "udid": "1f2e-33",
        "general": {
            "name": "ada-mbp",
            "platform": "Mac",
            "jamfBinaryVersion": "11.4.1",
            "lastContactTime": "2026-11-28T09:15:00.123Z",
            "reportDate": "2026-11-27T09:15:00Z",
        },
        "hardware": {"make": "Apple", "model": "MacBook Pro (14-inch, 2023)", "serialNumber": serial},
        "operatingSystem": {"name": "macOS", "version": "15.1.1", "fileVault2Status": "ALL_ENCRYPTED"},
        "diskEncryption": {"bootPartitionEncryptionDetails": {"partitionFileVault2State": "ENCRYPTED"}},
        "userAndLocation": {"username": "ada", "email": "ada@example.com"},
    }
    record.update(overrides)
    return record


def s1_agent(serial="PF3ABCDE", **overrides):
    agent = {
        "id": "1234567890",
        "uuid": "f431b0a1",
        "computerName": "DESKTOP-ADA",
        "serialNumber": serial,
        "osType": "windows",
        "osName": "Windows 11 Pro",
        "osRevision": "22631",
        "infected": False,
        "isDecommissioned": "False",
        "isUpToDate": "True",
        "agentVersion": "24.1.2.6",
        "lastActiveDate": "2026-11-29T23:59:01.123456Z",
        "lastLoggedInUserName": "CORP\\ada",
    }
    agent.update(overrides)
    return agent


def cs_device(serial="5CG1234XYZ", **overrides):
    device = {
        "device_id": "a1b2c3d4e5f6",
        "cid": "0123",
        "hostname": "ada-linux",
        "platform_name": "Linux",
        "os_version": "Ubuntu 24.04",
        "kernel_version": "6.8.0-45-generic",
        "agent_version": "7.18.17106.0",
        "last_seen": "2026-11-29T10:00:00Z",
        "first_seen": "2025-01-02T10:00:00Z",
        "serial_number": serial,
        "status": "normal",
        "reduced_functionality_mode": "no",
        "product_type_desc": "Workstation",
    }
    device.update(overrides)
    return device


# --- real samples -------------------------------------------------------------------------------------------


def test_jamf_real_list_sample(shared_data):
    feed = parse_feed(
        "jamf", (shared_data / "samples/jamf/go-sdk-jamfpro-v2_computers-inventory_list.json").read_bytes()
    )
    assert [(r.serial, r.hostname, r.external_id) for r in feed.records] == [
        ("C02ABC123DEF", "Test-Mac-001", "1"),
        ("C02XYZ789GHI", "Test-Mac-002", "2"),
    ]
    assert all(r.platform == "macos" and r.agent_version == "10.50.0" for r in feed.records)
    assert feed.records[0].last_seen_at is None  # the list mock has no dates: unknown, not an error


def test_jamf_real_detail_sample(shared_data):
    path = shared_data / "samples/jamf/go-sdk-jamfpro-v2_computers-inventory_detail.json"
    (record,) = parse_feed("jamf", path.read_bytes()).records
    assert record.serial == "C02ABC123DEF"
    assert record.os_version == "10.9.5"
    assert record.owner_email == "email@com.pl" and record.owner_username == "testuser"
    # The boot partition is still ENCRYPTING, so the OS-level status (ALL_ENCRYPTED) decides.
    assert record.disk_encrypted is True
    assert record.last_seen_at == datetime.datetime(2018, 10, 31, 18, 4, 13, tzinfo=UTC)
    assert record.raw["udid"] == "123" and len(record.content_hash) == 64


def test_jamf_real_classic_sample(shared_data):
    (record,) = parse_feed(
        "jamf", (shared_data / "samples/jamf/JamfKit_classic-computer.json").read_bytes()
    ).records
    assert record.serial == "C02Q7KHTGFWF"
    assert record.owner_email == "jbetty@company.com"


def test_sentinelone_real_sample(shared_data):
    path = shared_data / "samples/sentinelone/demisto_SentinelOne-V2_agents_raw_response.json"
    feed = parse_feed("sentinelone", path.read_bytes())
    # The recorded agent (an EC2 server) has no serial number: skipped, saying so, not a failed file.
    assert feed.records == []
    assert feed.warnings == ["record 1 (EC2AMAZ-AJ0KANC): no serial number; skipped"]
    # With a serial, the same agent reads with its string-typed booleans.
    agent = json.loads(path.read_text())[0] | {"serialNumber": "EC2-123"}
    (record,) = sentinelone.parse_items([agent]).records
    assert record.decommissioned is True and record.agent_up_to_date is True and record.infected is False
    assert record.platform == "windows" and record.os_version == "14393"
    assert record.last_seen_at == datetime.datetime(2020, 2, 20, 0, 26, 33, 955830, tzinfo=UTC)


# --- documented shapes --------------------------------------------------------------------------------------


def test_jamf_page_bare_list_and_single_record_read_alike():
    computer = jamf_computer()
    shapes = [{"totalCount": 1, "results": [computer]}, [computer], computer]
    parsed = [jamf.parse(json.dumps(shape)).records[0] for shape in shapes]
    assert len({(r.serial, r.content_hash) for r in parsed}) == 1
    record = parsed[0]
    assert (record.hostname, record.os_version, record.owner_username) == ("ada-mbp", "15.1.1", "ada")
    assert record.disk_encrypted is True and record.agent_version == "11.4.1"
    assert record.last_seen_at == datetime.datetime(2026, 11, 28, 9, 15, 0, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("partition", "status", "expected"),
    [
        ("ENCRYPTED", "NOT_ENCRYPTED", True),
        ("UNENCRYPTED", "ALL_ENCRYPTED", False),
        ("ENCRYPTING", "BOOT_ENCRYPTED", True),
        (None, "SOME_ENCRYPTED", False),
        (None, None, None),
    ],
)
def test_jamf_filevault(partition, status, expected):
    computer = jamf_computer(
        diskEncryption={"bootPartitionEncryptionDetails": {"partitionFileVault2State": partition}},
        operatingSystem={"version": "15.1", "fileVault2Status": status},
    )
    assert jamf.parse_items([computer]).records[0].disk_encrypted is expected


def test_jamf_report_date_when_no_contact_time():
    computer = jamf_computer()
    computer["general"]["lastContactTime"] = None
    assert jamf.parse_items([computer]).records[0].last_seen_at == datetime.datetime(
        2026, 11, 27, 9, 15, tzinfo=UTC
    )


def test_sentinelone_page_and_fields():
    page = {
        "data": [s1_agent(), s1_agent("C02MAC", osType="macos", lastLoggedInUserName="bo@example.com")],
        "pagination": {"nextCursor": None, "totalItems": 2},
    }
    first, second = sentinelone.parse(json.dumps(page)).records
    assert (first.platform, first.owner_username, first.owner_email) == ("windows", "ada", "")
    assert first.decommissioned is False and first.agent_up_to_date is True
    assert (second.platform, second.owner_email, second.owner_username) == ("macos", "bo@example.com", "")


def test_crowdstrike_resources_and_derived_fields():
    body = {
        "meta": {"query_time": 0.01},
        "resources": [
            cs_device(),
            cs_device(
                "C02CS",
                platform_name="Mac",
                os_version="Sequoia (15)",
                major_version="15",
                minor_version="1",
                status="contained",
                reduced_functionality_mode="yes",
            ),
            cs_device("WIN1", platform_name="Windows", os_version="Windows 11", os_build="26100"),
        ],
        "errors": [],
    }
    linux, mac, win = crowdstrike.parse(json.dumps(body)).records
    assert (linux.platform, linux.os_version, linux.infected, linux.agent_up_to_date) == (
        "linux",
        "24.04",
        False,
        True,
    )
    assert (mac.platform, mac.os_version, mac.infected, mac.agent_up_to_date) == (
        "macos",
        "15.1",
        True,
        False,
    )
    assert (win.platform, win.os_version) == ("windows", "10.0.26100")
    assert linux.decommissioned is None and linux.external_id == "a1b2c3d4e5f6"


DRIVESTRIKE_CSV = (
    "Serial Number,Device Name,Owner Email,Platform,OS Version,Encryption,Last Seen,Device ID,Notes\n"
    "5CG1234XYZ,ada-linux,ada@example.com,Ubuntu,24.04,Encrypted,2026-11-29T10:00:00Z,77,\n"
    "\n"
    "C02ABC123DEF,ada-mbp,ada@example.com,macOS,15.1.1,no,2026-11-29,78,loaner\n"
    ",ghost,,Windows,,,,79,\n"
)


def test_drivestrike_columns():
    feed = drivestrike.parse(DRIVESTRIKE_CSV.encode())
    linux, mac = feed.records
    assert (linux.serial, linux.hostname, linux.platform, linux.disk_encrypted) == (
        "5CG1234XYZ",
        "ada-linux",
        "linux",
        True,
    )
    assert (mac.platform, mac.disk_encrypted, mac.external_id) == ("macos", False, "78")
    assert mac.last_seen_at == datetime.datetime(2026, 11, 29, tzinfo=UTC)
    assert mac.raw["Notes"] == "loaner"
    assert feed.warnings == ["line 5 (ghost): no serial number; skipped"]


# --- errors name the record and the field -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "content", "record", "field"),
    [
        (
            "jamf",
            json.dumps([jamf_computer(), jamf_computer(hardware={"serialNumber": ["x"]})]),
            "record 2",
            "hardware.serialNumber",
        ),
        ("jamf", json.dumps({"results": {"a": 1}}), "file", "results"),
        (
            "jamf",
            json.dumps([jamf_computer(general={"lastContactTime": "yesterday"})]),
            "record 1",
            "general.lastContactTime",
        ),
        ("jamf", json.dumps([jamf_computer(hardware="C02")]), "record 1", "hardware"),
        (
            "sentinelone",
            json.dumps({"data": [s1_agent(), s1_agent(infected="maybe")]}),
            "record 2",
            "infected",
        ),
        ("sentinelone", json.dumps({"agents": []}), "file", "data"),
        ("sentinelone", json.dumps([s1_agent(serialNumber="X" * 101)]), "record 1", "serialNumber"),
        ("crowdstrike", json.dumps({"resources": [cs_device(last_seen=12)]}), "record 1", "last_seen"),
        ("drivestrike", "serial,encryption\nA1,yes\nA2,sometimes\n", "line 3", "encryption"),
        ("drivestrike", "hostname\nada\n", "line 1", "serial"),
        ("drivestrike", "serial,last seen\nA1,29/11/2026\n", "line 2", "last seen"),
        ("jamf", b"\xff\xfe{", "file", ""),
        ("jamf", "{not json", "file", ""),
        ("jamf", json.dumps([jamf_computer(general={"name": "a\x00b"})]), "record 1", "general.name"),
    ],
)
def test_errors_name_record_and_field(source, content, record, field):
    with pytest.raises(ParseError) as caught:
        parse_feed(source, content)
    assert (caught.value.record, caught.value.field) == (record, field)
    assert str(caught.value).startswith(record)


def test_unknown_source():
    with pytest.raises(ParseError, match="unknown source"):
        parse_feed("kandji", "[]")


def test_content_hash_ignores_key_order_but_not_values():
    a = jamf_computer()
    b = dict(reversed(list(a.items())))
    c = jamf_computer(id="18")
    ha, hb, hc = (jamf.parse_items([x]).records[0].content_hash for x in (a, b, c))
    assert ha == hb != hc


# --- arbitrary input ----------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELD_NAMES = {
    "jamf": [
        "id",
        "general",
        "hardware",
        "operatingSystem",
        "diskEncryption",
        "userAndLocation",
        "location",
        "computer",
        "name",
        "serialNumber",
        "version",
        "lastContactTime",
        "reportDate",
        "serial_number",
    ],
    "sentinelone": [
        "serialNumber",
        "id",
        "computerName",
        "osType",
        "osRevision",
        "infected",
        "isDecommissioned",
        "isUpToDate",
        "agentVersion",
        "lastActiveDate",
        "lastLoggedInUserName",
    ],
    "crowdstrike": [
        "serial_number",
        "device_id",
        "hostname",
        "platform_name",
        "os_version",
        "os_build",
        "major_version",
        "minor_version",
        "status",
        "reduced_functionality_mode",
        "last_seen",
        "agent_version",
        "last_login_user",
    ],
}
ENVELOPES = {"jamf": "results", "sentinelone": "data", "crowdstrike": "resources"}


def shaped(source):
    """Records using the vendor's field names, nested a level, with arbitrary values."""
    names = st.sampled_from(FIELD_NAMES[source])
    leaf = json_values | st.sampled_from(
        ["True", "false", "2026-11-29T10:00:00Z", "Mac", "windows", "ENCRYPTED"]
    )
    record = st.dictionaries(names, leaf | st.dictionaries(names, leaf, max_size=5), max_size=8)
    return st.one_of(
        st.lists(record, max_size=4),
        st.fixed_dictionaries({ENVELOPES[source]: st.lists(record, max_size=4)}),
        record,
    )


@pytest.mark.parametrize("source", ["jamf", "sentinelone", "crowdstrike"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_arbitrary_json_only_raises_parse_error(source, data):
    payload = data.draw(st.one_of(json_values, shaped(source)))
    try:
        feed = PARSERS[source](json.dumps(payload))
    except ParseError:
        return
    for record in feed.records:
        assert record.serial and len(record.content_hash) == 64


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_only_raise_parse_error(content):
    for parser in PARSERS.values():
        with contextlib.suppress(ParseError):
            parser(content)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12), min_size=1, max_size=9
        ),
        max_size=5,
    )
)
def test_arbitrary_csv_only_raises_parse_error(rows):
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows([["serial", "encryption", "last_seen", "platform"], *rows])
    try:
        feed = drivestrike.parse(out.getvalue())
    except ParseError:
        return
    assert all(r.serial for r in feed.records)
