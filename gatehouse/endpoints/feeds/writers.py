"""Writing feeds in the vendors' formats: the inverse of the parsers, for a fleet Gatehouse makes up.

The demo company and `bench/endpoints.py` build their devices with these, so both go through the same parsers
and imports as a real feed does. Each function writes the fields its parser reads (see the parser modules for
the vendors' names) plus a few that real records carry and Gatehouse keeps in the raw record.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

from gatehouse.endpoints.models import Platform


@dataclass
class DeviceSpec:
    """A device as every feed that reports it would describe it."""

    serial: str
    hostname: str
    platform: str
    os_version: str
    owner_email: str = ""
    owner_username: str = ""
    model: str = ""
    disk_encrypted: bool | None = True


def _stamp(when: datetime.datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def jamf_computer(device: DeviceSpec, *, index: int, seen: datetime.datetime | None) -> dict:
    """A `computers-inventory` result (sections general, hardware, userAndLocation, operatingSystem,
    diskEncryption)."""
    filevault = {True: "ENCRYPTED", False: "UNENCRYPTED", None: "UNKNOWN"}[device.disk_encrypted]
    status = {True: "ALL_ENCRYPTED", False: "NOT_ENCRYPTED", None: "UNKNOWN"}[device.disk_encrypted]
    return {
        "id": str(index),
        "udid": f"{index:08X}-0000-4000-8000-{index:012X}",
        "general": {
            "name": device.hostname,
            "lastContactTime": _stamp(seen),
            "reportDate": _stamp(seen),
            "jamfBinaryVersion": "11.10.0-t1728564124",
            "platform": "Mac",
        },
        "hardware": {"serialNumber": device.serial, "model": device.model, "make": "Apple"},
        "userAndLocation": {"username": device.owner_username, "email": device.owner_email},
        "operatingSystem": {
            "name": "macOS",
            "version": device.os_version,
            "fileVault2Status": status,
        },
        "diskEncryption": {"bootPartitionEncryptionDetails": {"partitionFileVault2State": filevault}},
    }


_S1_OS = {Platform.MACOS: "macos", Platform.WINDOWS: "windows", Platform.LINUX: "linux"}


def sentinelone_agent(
    device: DeviceSpec,
    *,
    index: int,
    seen: datetime.datetime | None,
    infected: bool = False,
    decommissioned: bool = False,
    up_to_date: bool = True,
    agent_version: str = "24.1.4.257",
) -> dict:
    """An `agents` item."""
    return {
        "id": str(1_000_000_000_000 + index),
        "uuid": f"{index:032x}",
        "computerName": device.hostname,
        "serialNumber": device.serial,
        "lastLoggedInUserName": device.owner_email or device.owner_username,
        "osType": _S1_OS.get(device.platform, "linux"),
        "osRevision": device.os_version,
        "infected": infected,
        "isDecommissioned": decommissioned,
        "isUpToDate": up_to_date,
        "isActive": not decommissioned,
        "agentVersion": agent_version,
        "lastActiveDate": _stamp(seen),
        "modelName": device.model,
    }


_CS_PLATFORM = {Platform.MACOS: "Mac", Platform.WINDOWS: "Windows", Platform.LINUX: "Linux"}


def crowdstrike_device(
    device: DeviceSpec,
    *,
    index: int,
    seen: datetime.datetime | None,
    contained: bool = False,
    reduced_functionality: bool = False,
    agent_version: str = "7.18.18905.0",
) -> dict:
    """A device-details resource. The OS goes where Falcon puts it: major/minor on a Mac, the build on
    Windows, the name on Linux."""
    resource = {
        "device_id": f"{index:032x}",
        "hostname": device.hostname,
        "serial_number": device.serial,
        "last_login_user": device.owner_email or device.owner_username,
        "platform_name": _CS_PLATFORM.get(device.platform, "Linux"),
        "status": "contained" if contained else "normal",
        "reduced_functionality_mode": "yes" if reduced_functionality else "no",
        "agent_version": agent_version,
        "last_seen": _stamp(seen),
        "system_product_name": device.model,
    }
    parts = device.os_version.split(".")
    if device.platform == Platform.MACOS:
        resource.update(major_version=parts[0], minor_version=parts[1] if len(parts) > 1 else "0")
        resource["os_version"] = f"macOS {device.os_version}"
    elif device.platform == Platform.WINDOWS:
        resource["os_build"] = (
            ".".join(parts[2:]) if device.os_version.startswith("10.0.") else device.os_version
        )
        resource["os_version"] = "Windows 11"
    else:
        resource["os_version"] = f"Ubuntu {device.os_version}"
    return resource


DRIVESTRIKE_HEADER = ["Device ID", "Serial", "Device Name", "Owner Email", "Platform", "OS Version", "Encryption",
                      "Last Check In"]  # fmt: skip
_DS_PLATFORM = {Platform.MACOS: "macOS", Platform.WINDOWS: "Windows", Platform.LINUX: "Linux"}


def drivestrike_row(device: DeviceSpec, *, index: int, seen: datetime.datetime | None) -> list[str]:
    """A line of the DriveStrike CSV, in DRIVESTRIKE_HEADER's order."""
    encryption = {True: "Encrypted", False: "Not Encrypted", None: ""}[device.disk_encrypted]
    return [
        str(index),
        device.serial,
        device.hostname,
        device.owner_email,
        _DS_PLATFORM.get(device.platform, ""),
        device.os_version,
        encryption,
        _stamp(seen) or "",
    ]


def jamf_file(computers: list[dict]) -> str:
    return json.dumps({"totalCount": len(computers), "results": computers})


def sentinelone_file(agents: list[dict]) -> str:
    return json.dumps({"data": agents, "pagination": {"totalItems": len(agents), "nextCursor": None}})


def crowdstrike_file(resources: list[dict]) -> str:
    return json.dumps({"meta": {"query_time": 0.01}, "resources": resources, "errors": []})


def drivestrike_file(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DRIVESTRIKE_HEADER)
    writer.writerows(rows)
    return out.getvalue()
