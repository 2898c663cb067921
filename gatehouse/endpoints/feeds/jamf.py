"""Jamf Pro computer inventory: `GET /api/v1/computers-inventory` (and `.../computers-inventory-detail/{id}`).

Accepted: the API's page `{"totalCount": n, "results": [...]}`, a bare array of computers, or one computer.
Fields read (Jamf Pro API names), each optional except the serial number:

- `hardware.serialNumber` (serial), `id` (external id), `general.name` (hostname)
- `userAndLocation.email`, `userAndLocation.username` (owner)
- `operatingSystem.version` (OS version); every Jamf Pro computer is a Mac
- `diskEncryption.bootPartitionEncryptionDetails.partitionFileVault2State` (ENCRYPTED is on; UNENCRYPTED,
  DECRYPTING, DECRYPTED are off; otherwise `operatingSystem.fileVault2Status`: ALL_ENCRYPTED or BOOT_ENCRYPTED
  is on, NOT_ENCRYPTED or SOME_ENCRYPTED is off)
- `general.lastContactTime`, else `general.reportDate` (last seen); `general.jamfBinaryVersion` (agent)

A Classic API computer object (snake_case: `general.serial_number`, `location.email_address`...) is also read.
"""

from __future__ import annotations

from typing import Any

from gatehouse.endpoints.feeds.base import Feed, FeedRecord, Reader, finish, load_json, records_of
from gatehouse.endpoints.models import Platform, Source

FILEVAULT_PARTITION = {
    "ENCRYPTED": True,
    "UNENCRYPTED": False,
    "NOT_ENCRYPTED": False,
    "DECRYPTING": False,
    "DECRYPTED": False,
}
FILEVAULT_STATUS = {
    "ALL_ENCRYPTED": True,
    "BOOT_ENCRYPTED": True,
    "NOT_ENCRYPTED": False,
    "SOME_ENCRYPTED": False,
}


def parse(content: str | bytes) -> Feed:
    return parse_items(
        records_of(
            load_json(content), "results", single_record_keys=("general", "hardware", "computer", "id")
        )
    )


def parse_items(items: list[Any], *, start: int = 0) -> Feed:
    feed = Feed(Source.JAMF)
    for index, item in enumerate(items, start=start + 1):
        label = f"record {index}"
        reader = Reader(item, label)
        if isinstance(item.get("computer"), dict):  # a Classic API object in its envelope
            reader = Reader(item["computer"], label)
        general = reader.section("general")
        record = _classic(reader) if "serial_number" in general or "location" in reader.item else _pro(reader)
        finish(feed, record, item)
    return feed


def _pro(r: Reader) -> FeedRecord:
    return FeedRecord(
        source=Source.JAMF,
        label=r.label,
        serial=r.text("hardware.serialNumber", column="serial"),
        external_id=r.text("id", column="external_id"),
        hostname=r.text("general.name", column="hostname"),
        owner_email=r.text("userAndLocation.email", column="owner_email"),
        owner_username=r.text("userAndLocation.username", column="owner_username"),
        platform=Platform.MACOS,
        os_version=r.text("operatingSystem.version", column="os_version"),
        disk_encrypted=_filevault(r),
        agent_version=r.text("general.jamfBinaryVersion", column="agent_version"),
        last_seen_at=r.timestamp("general.lastContactTime") or r.timestamp("general.reportDate"),
    )


def _filevault(r: Reader) -> bool | None:
    state = r.text("diskEncryption.bootPartitionEncryptionDetails.partitionFileVault2State").upper()
    if state in FILEVAULT_PARTITION:
        return FILEVAULT_PARTITION[state]
    return FILEVAULT_STATUS.get(r.text("operatingSystem.fileVault2Status").upper())


def _classic(r: Reader) -> FeedRecord:
    return FeedRecord(
        source=Source.JAMF,
        label=r.label,
        serial=r.text("general.serial_number", column="serial"),
        external_id=r.text("general.id", column="external_id"),
        hostname=r.text("general.name", column="hostname"),
        owner_email=r.text("location.email_address", column="owner_email"),
        owner_username=r.text("location.username", column="owner_username"),
        platform=Platform.MACOS,
        os_version=r.text("hardware.os_version", column="os_version"),
        disk_encrypted=None,
        agent_version=r.text("general.jamf_version", column="agent_version"),
        last_seen_at=r.timestamp("general.last_contact_time") or r.timestamp("general.report_date"),
    )
