"""The demo company's endpoints (issue 5): about 250 devices across its people, from the three kinds of feed.

The fleet is a pure function of the directory (people by email, each drawn with their own seed) and of the OS
release catalog: most people have one Mac, engineers often a Linux workstation too, a few a second Mac or a
replaced one that no longer reports. It is written in the vendors' formats (`endpoints.feeds.writers`) and
imported through the real path, `parse_feed` then `import_feeds` (all feeds together, as the hourly sync does),
as Jamf Pro, SentinelOne, CrowdStrike Falcon and DriveStrike files would be: devices are upserted, owners
reconciled (by email mostly; some SentinelOne agents name only a `DOMAIN\\user`, two Macs only their hostname,
two devices no one) and checked.

A handful of devices fail, each for a reason a real fleet has, concentrated in a few departments so the company
misses the 95% target while most departments meet it: SentinelOne not seen for 9 to 20 days, an infected agent,
out-of-date agents, Linux workstations missing from DriveStrike, FileVault off, Macs on an old macOS 14 or below
the minimum, and devices that did not install the latest release within the patch window. One leaver's laptop
(the leaver the access demo offboards) still reports, a few devices have not been seen for over 30 days, and a lab
machine has an exception. Remediation then runs, filing the owners' desk requests.

The shipped OS catalog ends in late 2025, so nothing in it is recent. When a line the devices run has no release
in the last 90 days, the demo adds its own (through the catalog's import service, audited): versions continuing
the line, dated back from the load day. They are invented, like the demo's people.

History: today's KPI snapshot is the real `kpis.take_snapshot()`. The 89 days before cannot be recomputed from
today's state, so they are synthesized, deterministically, per device: each device's OS version over time (it
installs each release some days after it came out, ending on the version it runs today) gives the patch
compliance and each release's adoption through the real check and adoption code; the security tools
compliance follows today's failures back to when each started, plus earlier short lapses that grow rarer towards
today. The rows are bulk-created with one audit event describing the back-fill.

Made once: when the database holds devices, nothing is written (the totals are still reported).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import random
import statistics
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.directory.models import Person, PersonStatus
from gatehouse.endpoints.feeds.writers import (
    DeviceSpec,
    crowdstrike_device,
    crowdstrike_file,
    drivestrike_file,
    drivestrike_row,
    jamf_computer,
    jamf_file,
    sentinelone_agent,
    sentinelone_file,
)
from gatehouse.endpoints.kpis import adoption_of, percent
from gatehouse.endpoints.models import (
    Device,
    DeviceException,
    KpiSnapshot,
    OsRelease,
    Platform,
    PlatformPolicy,
    ReleaseAdoption,
    Remediation,
)

SEED = "gatehouse-demo-endpoints"
AD_DOMAIN = "GATEHOUSE"  # the Windows-style domain some SentinelOne agents prefix usernames with
HISTORY_DAYS = 90  # snapshot days, today included
RECENT_DAYS = 90  # a line with no release this recent gets the demo's releases

MACOS, LINUX = Platform.MACOS.value, Platform.LINUX.value

# The demo's releases, per line: how each continues the line's newest version, and how many days before the
# load it came out. Added only where the catalog has nothing in the last RECENT_DAYS.
DEMO_RELEASES: dict[tuple[str, str], list[tuple[str, int]]] = {
    (MACOS, "macOS 26"): [("minor", 124), ("minor", 72), ("patch", 38), ("minor", 10)],
    (MACOS, "macOS 15"): [("patch", 124), ("patch", 72), ("patch", 10)],
    (LINUX, "Ubuntu 24.04"): [("patch", 100)],
}

# How many days after a release a device installs it: log-normal, by platform (median, spread), the median
# longer by UPDATE_SLOWER days per day the release is older than the load (people got quicker at updating, so
# the trend improves). What a device runs on a day is the newest release it has installed by then.
UPDATE_DELAY = {MACOS: (12.0, 0.8), LINUX: (15.0, 0.8)}
UPDATE_SLOWER = 0.06

# The failures: (kind, department of the owner, platform), one device each. Most departments have none, so
# they meet the target; Engineering, Sales, Support and Marketing carry the company below it.
FAULTS: list[tuple[str, str, str]] = [
    *[("stale_edr", "Sales", MACOS)] * 3,
    *[("stale_edr", "Support", MACOS)] * 2,
    ("stale_edr", "Marketing", MACOS),
    ("stale_edr", "Engineering", LINUX),  # on CrowdStrike (the data team's EDR)
    ("infected", "Marketing", MACOS),
    ("agent_outdated", "Sales", MACOS),
    ("agent_outdated", "Engineering", LINUX),
    ("agent_outdated", "Support", MACOS),
    *[("no_drivestrike", "Engineering", LINUX)] * 5,
    ("filevault_off", "Sales", MACOS),
    ("filevault_off", "Marketing", MACOS),
    *[("os_old", "Sales", MACOS)] * 3,
    ("os_old", "Support", MACOS),
    ("os_below_minimum", "Sales", MACOS),
    *[("os_late", "Engineering", MACOS)] * 3,
    *[("os_late", "Sales", MACOS)] * 2,
    ("os_late", "Support", MACOS),
    ("os_late", "Marketing", MACOS),
    ("os_very_late", "Sales", MACOS),
    *[("os_late_15", "Support", MACOS)] * 2,
    *[("os_late", "Engineering", LINUX)] * 3,
]
SECURITY_FAULTS = {"stale_edr", "infected", "agent_outdated", "no_drivestrike"}
# The security tools compliance the synthesized history starts from (percent), before converging on today's.
SECURITY_START = 86.5

MAC_MODELS = [
    "MacBook Pro (14-inch, M3, 2023)",
    "MacBook Pro (14-inch, M4 Pro, 2024)",
    "MacBook Pro (16-inch, M4 Max, 2024)",
    "MacBook Air (13-inch, M3, 2024)",
    "MacBook Air (15-inch, M2, 2023)",
]
OLD_MAC_MODELS = ["MacBook Pro (13-inch, M1, 2020)", "MacBook Pro (16-inch, 2019)", "MacBook Air (M1, 2020)"]
LINUX_MODELS = [
    "ThinkPad P1 Gen 7",
    "ThinkStation P3 Tiny",
    "ThinkPad X1 Carbon Gen 12",
    "Dell Precision 5690",
]
_MAC_SERIAL = "0123456789CDFGHJKLMNPQRTVWXY"  # Apple's serials avoid vowels and some look-alike letters
_PC_SERIAL = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass
class Planned:
    """One demo device: how every feed that reports it describes it, and what is wrong with it."""

    spec: DeviceSpec
    owner: Person | None
    role: str  # mac, linux, second, replaced, on_leave, leaver, loaner, build, lab
    seen: dict[str, float] = field(default_factory=dict)  # source -> days before the load it was last seen
    fault: str = ""
    match: str = "email"  # how the feeds name the owner: email, username, hostname, none, conflict
    other_email: str = ""  # the second owner a serial conflict names
    onset: int | None = None  # days before the load its security failure began (None: before the history)
    edr: str = "sentinelone"
    in_drivestrike: bool = False
    infected: bool = False
    agent_up_to_date: bool = True


# --- The OS releases the demo needs ---------------------------------------------------------------------------


def _continue(version: str, step: str) -> str:
    parts = version.split(".")
    if step == "minor":
        return f"{parts[0]}.{int(parts[1]) + 1 if len(parts) > 1 else 1}"
    if len(parts) < 3:
        return ".".join([*parts, "1"] if len(parts) == 2 else [parts[0], "0", "1"])
    return ".".join([*parts[:2], str(int(parts[2]) + 1)])


def ensure_releases(*, actor, today: datetime.date) -> int:
    """Add the demo's releases to the lines with nothing recent, through the catalog's import (audited)."""
    from gatehouse.endpoints.catalog import import_os_releases
    from gatehouse.endpoints.checks import parse_version

    lines = ["platform,line,version,released_on"]
    for (platform, line), steps in DEMO_RELEASES.items():
        releases = list(OsRelease.objects.filter(platform=platform, line=line))
        if not releases:
            continue
        if any(r.released_on >= today - datetime.timedelta(days=RECENT_DAYS) for r in releases):
            continue
        version = max(releases, key=lambda r: parse_version(r.version)).version
        for step, days in steps:
            version = _continue(version, step)
            lines.append(f"{platform},{line},{version},{today - datetime.timedelta(days=days)}")
    if len(lines) == 1:
        return 0
    return import_os_releases(lines, actor=actor).created


class Versions:
    """The catalog's versions as the checks see them today: which pass, which are behind, per line."""

    def __init__(self, today: datetime.date):
        from gatehouse.endpoints.checks import Catalog, check_os, parse_version

        self.releases = list(OsRelease.objects.all())
        self.policies = {p.platform: p for p in PlatformPolicy.objects.all()}
        catalog = Catalog(self.releases)
        self.passing: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.failing: dict[tuple[str, str], list[str]] = defaultdict(list)
        for release in sorted(self.releases, key=lambda r: parse_version(r.version), reverse=True):
            policy = self.policies.get(release.platform)
            if policy is None:
                continue
            device = Device(platform=release.platform, os_version=release.version)
            outcome = check_os(device, policy, catalog, today, Platform(release.platform).label)
            key = (release.platform, release.line)
            (self.passing if outcome.passed else self.failing)[key].append(release.version)

    def current(self, platform: str, line: str, rng: random.Random) -> str:
        """A version that passes today: the newest mostly, else the one before it (still in the window)."""
        versions = self.passing.get((platform, line)) or self.failing.get((platform, line)) or [""]
        return versions[0] if len(versions) == 1 or rng.random() < 0.58 else versions[1]

    def behind(self, platform: str, line: str, rank: int = 0) -> str:
        """The `rank`-th newest version of the line that fails today (falls back to the oldest passing)."""
        versions = self.failing.get((platform, line)) or []
        if versions:
            return versions[min(rank, len(versions) - 1)]
        passing = self.passing.get((platform, line)) or [""]
        return passing[-1]


# --- The fleet ----------------------------------------------------------------------------------------------


def _rng(*parts: object) -> random.Random:
    return random.Random(zlib.crc32(":".join(map(str, (SEED, *parts))).encode()))


class _Serials:
    def __init__(self):
        self.used: set[str] = set()

    def make(self, rng: random.Random, alphabet: str, prefix: str, length: int) -> str:
        while True:
            serial = prefix + "".join(rng.choice(alphabet) for _ in range(length - len(prefix)))
            if serial not in self.used:
                self.used.add(serial)
                return serial


def _is_engineer(person: Person) -> bool:
    title = person.title or ""
    if person.department == "Engineering":
        return "Engineer" in title and not title.startswith(("Engineering Manager", "VP"))
    return title in ("Detection Engineer", "Senior Security Engineer", "IT Systems Engineer")


def plan_fleet(people: list[Person], versions: Versions, *, leaver: Person | None) -> list[Planned]:
    """Every demo device, the same for the same directory and catalog."""
    serials = _Serials()
    fleet: list[Planned] = []
    owners = [p for p in people if p.status != PersonStatus.TERMINATED or p == leaver]
    data_team = {
        p.pk for p in owners if p.manager is not None and p.manager.title == "Engineering Manager, Data"
    }
    data_team |= {p.pk for p in owners if p.title == "Engineering Manager, Data"}

    def mac(person: Person | None, hostname: str, role: str, rng: random.Random, **kw) -> Planned:
        line = "macOS 15" if rng.random() < 0.14 else "macOS 26"
        spec = DeviceSpec(
            serial=serials.make(rng, _MAC_SERIAL, "", 10),
            hostname=hostname,
            platform=MACOS,
            os_version=versions.current(MACOS, line, rng),
            owner_email=person.email if person else "",
            owner_username=person.handle if person else "",
            model=rng.choice(MAC_MODELS),
        )
        return Planned(spec=spec, owner=person, role=role, **kw)

    def linux(person: Person, rng: random.Random) -> Planned:
        line = "Ubuntu 22.04" if rng.random() < 0.25 else "Ubuntu 24.04"
        spec = DeviceSpec(
            serial=serials.make(rng, _PC_SERIAL, "PF", 8),
            hostname=f"{person.handle}-ws",
            platform=LINUX,
            os_version=versions.current(LINUX, line, rng),
            owner_email=person.email,
            owner_username=person.handle,
            model=rng.choice(LINUX_MODELS),
        )
        return Planned(spec=spec, owner=person, role="linux", in_drivestrike=True)

    for person in owners:
        rng = _rng(person.email)
        travels = person.department in ("Sales", "Support", "Executive") or rng.random() < 0.1
        main = mac(person, f"{person.handle}-mbp", "leaver" if person == leaver else "mac", rng)
        main.in_drivestrike = travels
        fleet.append(main)
        if person == leaver:
            continue
        engineering = person.department == "Engineering"
        # Most engineers, and half the security and IT engineers, also have a Linux workstation.
        if (
            _is_engineer(person)
            and (rng.random() < 0.8 or not engineering)
            and (engineering or rng.random() < 0.5)
        ):
            fleet.append(linux(person, rng))
        if person.title in ("Sales Engineer", "Senior Sales Engineer", "Sales Engineering Manager") or (
            person.title in ("Chief Executive Officer", "Head of IT")
        ):
            second = mac(person, f"{person.handle}-demo-mba", "second", rng)
            second.in_drivestrike = travels
            fleet.append(second)
    for planned in fleet:
        if planned.owner is not None and planned.owner.pk in data_team:
            planned.edr = "crowdstrike"

    rng = _rng("fleet")
    # Replaced Macs: the old one still in the feeds, not seen since the new one arrived (inactive).
    # One person on leave: their Mac has not reported for over 30 days.
    quiet = [p for p in fleet if p.role == "mac" and p.owner.status == PersonStatus.ACTIVE]
    for planned in rng.sample(quiet, 6):
        person = planned.owner
        prng = _rng(person.email, "old")
        old = Planned(
            spec=DeviceSpec(
                serial=serials.make(prng, _MAC_SERIAL, "C02", 12),
                hostname=f"{person.handle}-mbp-old",
                platform=MACOS,
                os_version=versions.behind(MACOS, "macOS 14", prng.randint(2, 6)),
                owner_email=person.email,
                owner_username=person.handle,
                model=prng.choice(OLD_MAC_MODELS),
            ),
            owner=person,
            role="replaced",
        )
        old.seen = dict.fromkeys(("jamf", planned.edr), prng.randint(38, 80) + prng.random())
        old.edr = planned.edr
        fleet.append(old)
    replaced = {p.owner.pk for p in fleet if p.role == "replaced"}
    on_leave = next((p for p in quiet if p.owner.department == "People" and p.owner.pk not in replaced), None)
    if on_leave is not None:
        on_leave.role = "on_leave"
        on_leave.seen = {"jamf": 34.2, on_leave.edr: 33.6}

    # Unowned: a loaner nobody is assigned (not seen for 12 days) and the build Mac mini. No feed names a person.
    for hostname, role, age in (("loaner-mbp-07", "loaner", 12.4), ("build-mac-mini-01", "build", 0.2)):
        lrng = _rng(hostname)
        device = mac(None, hostname, role, lrng, match="none")
        device.spec.model = "Mac mini (M2 Pro, 2023)" if role == "build" else device.spec.model
        device.seen = {"jamf": age + 0.1, "sentinelone": age}
        if role == "loaner":
            device.onset = int(age) - 7
        fleet.append(device)

    # The detection lab machine: old Ubuntu on purpose, not enrolled in DriveStrike, excepted.
    lab_owner = next((p for p in owners if p.title == "Senior Security Engineer"), None)
    if lab_owner is not None:
        lrng = _rng("lab")
        fleet.append(
            Planned(
                spec=DeviceSpec(
                    serial=serials.make(lrng, _PC_SERIAL, "PF", 8),
                    hostname="sec-lab-01",
                    platform=LINUX,
                    os_version=versions.behind(LINUX, "Ubuntu 22.04", 3),
                    owner_email=lab_owner.email,
                    owner_username="",
                    model="ThinkStation P3 Tiny",
                ),
                owner=lab_owner,
                role="lab",
                fault="lab",
            )
        )

    _assign_faults(fleet, versions, rng)
    _vary_owner_names(fleet, rng)
    for planned in fleet:
        frng = _rng(planned.spec.serial, "seen")
        edr = planned.edr
        if planned.spec.platform == MACOS:
            planned.seen.setdefault("jamf", frng.uniform(0.02, 1.4))
        planned.seen.setdefault(edr, frng.uniform(0.01, 0.9))
        if planned.role == "leaver":
            planned.seen = {"jamf": 0.6, edr: 0.4}
        if planned.in_drivestrike:
            planned.seen.setdefault("drivestrike", frng.uniform(0.05, 2.5))
        if planned.role in ("replaced", "on_leave"):
            planned.seen.pop("drivestrike", None)
    return fleet


def _assign_faults(fleet: list[Planned], versions: Versions, rng: random.Random) -> None:
    from gatehouse.users.models import User

    member = User.objects.filter(username="member").values_list("person_id", flat=True).first()
    signed_in = set(User.objects.exclude(person=None).values_list("person_id", flat=True)) - {member}
    taken: set[str] = set()
    for kind, department, platform in FAULTS:
        pool = [
            p
            for p in fleet
            if p.role in ("mac", "linux")
            and p.spec.platform == platform
            and p.owner is not None
            and p.owner.department == department
            and p.owner.pk not in signed_in
            and p.spec.serial not in taken
            and (p.edr == "crowdstrike") == (kind == "stale_edr" and platform == LINUX)
        ]
        if not pool:
            continue
        # The demo's team member (Sales) sees a failing Mac of their own, and its desk request.
        mine = [p for p in pool if p.owner.pk == member]
        chosen = mine[0] if mine and kind == "stale_edr" else rng.choice(pool)
        taken.add(chosen.spec.serial)
        chosen.fault = kind
        spec = chosen.spec
        if kind == "stale_edr":
            days = rng.randint(9, 20)
            chosen.seen[chosen.edr] = days + rng.uniform(0.1, 0.8)
            chosen.onset = days - 7
        elif kind == "infected":
            chosen.infected, chosen.onset = True, 1
        elif kind == "agent_outdated":
            chosen.agent_up_to_date, chosen.onset = False, rng.randint(8, 25)
        elif kind == "no_drivestrike":
            chosen.in_drivestrike = False
        elif kind == "filevault_off":
            spec.disk_encrypted = False
        elif kind == "os_old":
            spec.os_version = versions.behind(MACOS, "macOS 14", rng.randint(1, 5))
            spec.model = rng.choice(OLD_MAC_MODELS)
        elif kind == "os_below_minimum":
            spec.os_version = versions.behind(MACOS, "macOS 13", 0)
            spec.model = OLD_MAC_MODELS[1]
        elif kind in ("os_late", "os_very_late"):
            line = "macOS 26" if platform == MACOS else "Ubuntu 24.04"
            spec.os_version = versions.behind(platform, line, 1 if kind == "os_very_late" else 0)
        elif kind == "os_late_15":
            spec.os_version = versions.behind(MACOS, "macOS 15", 0)


def _vary_owner_names(fleet: list[Planned], rng: random.Random) -> None:
    """How the feeds name owners: most by email; some Macs are not assigned in Jamf and SentinelOne names only
    the `DOMAIN\\user` who logs in; two Macs are named by nobody but their hostname; one Mac passed to a
    teammate is still assigned to its first owner in Jamf (a serial conflict)."""
    plain = [
        p
        for p in fleet
        if p.role == "mac" and not p.fault and p.edr == "sentinelone" and not p.in_drivestrike and p.owner
    ]
    chosen = rng.sample(plain, 11)
    for planned in chosen[:8]:
        planned.match = "username"
    for planned in chosen[8:10]:
        planned.match = "hostname"
    conflict = chosen[10]
    teammates = [
        p.owner
        for p in fleet
        if p.owner is not None
        and p.owner.manager_id == conflict.owner.manager_id
        and p.owner != conflict.owner
        and p.owner.status == PersonStatus.ACTIVE
    ]
    if teammates:
        conflict.match, conflict.other_email = "conflict", teammates[0].email


# --- Writing the feeds --------------------------------------------------------------------------------------


def _owned(spec: DeviceSpec, email: str = "", username: str = "") -> DeviceSpec:
    return dataclasses.replace(spec, owner_email=email, owner_username=username)


def write_feeds(fleet: list[Planned], now: datetime.datetime) -> list[tuple[str, str, str]]:
    """[(source, file name, content)] in the vendors' formats."""

    def at(days: float) -> datetime.datetime:
        return now - datetime.timedelta(days=days)

    jamf, s1, cs, ds = [], [], [], []
    for index, p in enumerate(fleet, start=1):
        spec = p.spec
        none = _owned(spec)
        if p.match in ("none", "hostname"):
            mdm = edr = none
        elif p.match == "username":
            mdm, edr = none, _owned(spec, username=f"{AD_DOMAIN}\\{spec.owner_username}")
        elif p.match == "conflict":
            mdm, edr = spec, _owned(spec, email=p.other_email)
        elif spec.platform == LINUX and spec.owner_username:
            mdm, edr = spec, _owned(spec, username=spec.owner_username)  # the local account that logs in
        else:
            mdm, edr = spec, _owned(spec, email=spec.owner_email)
        if "jamf" in p.seen and spec.platform == MACOS:
            jamf.append(jamf_computer(mdm, index=index, seen=at(p.seen["jamf"])))
        if "sentinelone" in p.seen and p.edr == "sentinelone":
            agent_version = "24.1.4.257" if p.agent_up_to_date else "23.3.2.12"
            s1.append(
                sentinelone_agent(
                    edr,
                    index=index,
                    seen=at(p.seen["sentinelone"]),
                    infected=p.infected,
                    up_to_date=p.agent_up_to_date,
                    agent_version=agent_version,
                )
            )
        if "crowdstrike" in p.seen and p.edr == "crowdstrike":
            cs.append(
                crowdstrike_device(
                    _owned(spec, email=spec.owner_email) if p.match == "email" else edr,
                    index=index,
                    seen=at(p.seen["crowdstrike"]),
                    reduced_functionality=not p.agent_up_to_date,
                )
            )
        if "drivestrike" in p.seen:
            # DriveStrike's export writes some serials as typed at enrolment; the import normalizes them.
            row_spec = dataclasses.replace(mdm, serial=spec.serial.lower()) if index % 7 == 0 else mdm
            ds.append(drivestrike_row(row_spec, index=index, seen=at(p.seen["drivestrike"])))
    return [
        ("jamf", "jamf-computers-inventory.json", jamf_file(jamf)),
        ("sentinelone", "sentinelone-agents.json", sentinelone_file(s1)),
        ("crowdstrike", "crowdstrike-devices.json", crowdstrike_file(cs)),
        ("drivestrike", "drivestrike-devices.csv", drivestrike_file(ds)),
    ]


# --- Loading ------------------------------------------------------------------------------------------------


def _record_totals(summary, created: bool) -> None:
    totals = {
        "devices": Device.objects.count(),
        "failing devices": Device.objects.filter(is_active=True, passing=False).count(),
        "remediation requests": Remediation.objects.count(),
        "snapshot days": KpiSnapshot.objects.filter(dimension=KpiSnapshot.Dimension.COMPANY, key="")
        .values("day")
        .distinct()
        .count(),
    }
    for kind, value in totals.items():
        summary.totals[kind] = value
        summary.created[kind] = value if created else 0


def load_endpoints(*, actor, progress, summary) -> None:
    """Import the demo fleet through the feeds, grant the lab's exception, file the remediation requests and
    write 90 days of KPI snapshots. Made once: devices in the database mean the demo has them."""
    from gatehouse.demo.access import pick_leaver
    from gatehouse.endpoints import kpis, remediation
    from gatehouse.endpoints.feeds import parse_feed
    from gatehouse.endpoints.imports import import_feeds

    if Device.objects.exists():
        _record_totals(summary, created=False)
        return
    now = timezone.now().replace(microsecond=0)
    today = timezone.localdate(now)
    ensure_releases(actor=actor, today=today)
    versions = Versions(today)
    people = list(Person.objects.select_related("manager").order_by("email"))
    fleet = plan_fleet(people, versions, leaver=pick_leaver())
    feeds = write_feeds(fleet, now)
    # Read, then imported together as the hourly sync does: each device is checked once, on all its feeds.
    parsed = [
        (source, parse_feed(source, content), f"demo: {name}")
        for source, name, content in progress(feeds, total=len(feeds), desc="Device feeds")
    ]
    import_feeds(parsed, actor=actor, now=now)
    _grant_lab_exception(fleet, actor=actor, today=today)
    # The import also queues remediation after the commit; it finds these requests open and files nothing.
    remediation.remediate(None, actor=actor, now=now)
    kpis.take_snapshot(today)
    backfill_history(fleet, today=today, versions=versions, progress=progress)
    _record_totals(summary, created=True)


LAB_EXCEPTION_AGE = 20  # granted this many days before the load
LAB_EXCEPTION_LEFT = 70  # and runs this many days after it


def _grant_lab_exception(fleet: list[Planned], *, actor, today: datetime.date) -> None:
    from gatehouse.demo.desk import _clock
    from gatehouse.endpoints.exceptions import grant_exception
    from gatehouse.users.models import User

    lab = next((p for p in fleet if p.role == "lab"), None)
    device = Device.objects.filter(serial=lab.spec.serial).first() if lab else None
    if device is None:
        return
    granted = datetime.datetime.combine(
        today - datetime.timedelta(days=LAB_EXCEPTION_AGE),
        datetime.time(15, 30),
        tzinfo=timezone.get_current_timezone(),
    )
    by = User.objects.filter(username="security").first() or actor
    with _clock(granted):
        grant_exception(
            device,
            actor=by,
            reason="Detection lab machine: runs an old Ubuntu on purpose to test detections, on the isolated lab "
            "network, never enrolled in DriveStrike. Review when the lab moves to the new hardware.",
            expires_on=today + datetime.timedelta(days=LAB_EXCEPTION_LEFT),
        )


# --- History ------------------------------------------------------------------------------------------------


@dataclass
class _Tracked:
    """A device counted in the history: its slices, its OS version over time and its security lapses."""

    pk: int
    platform: str
    department: str
    manager: str
    version_changes: list[tuple[datetime.date, str]]  # (from day, version), oldest first
    counted_until: datetime.date | None = None  # an excepted device: the day before its exception
    failing_since: datetime.date | None = None  # its current security failure, or None
    lapses: set[datetime.date] = field(default_factory=set)

    def version_on(self, day: datetime.date) -> str:
        version = self.version_changes[0][1]
        for since, value in self.version_changes:
            if since <= day:
                version = value
        return version

    def counted_on(self, day: datetime.date) -> bool:
        return self.counted_until is None or day <= self.counted_until


def _delay(rng: random.Random, platform: str, at_most: int, age: int) -> int:
    """Days from a release `age` days old to its installation, given it was installed within `at_most` days."""
    median, spread = UPDATE_DELAY.get(platform, UPDATE_DELAY[MACOS])
    median += UPDATE_SLOWER * min(max(age, 0), 200)
    normal = statistics.NormalDist()
    ceiling = normal.cdf((math.log(max(at_most, 1)) - math.log(median)) / spread)
    u = rng.uniform(1e-6, max(ceiling, 2e-6))
    days = math.exp(math.log(median) + spread * normal.inv_cdf(u))
    return min(max(1, round(days)), max(at_most, 0))


def _version_changes(
    platform: str, version: str, releases: list[OsRelease], catalog, today: datetime.date, rng: random.Random
) -> list[tuple[datetime.date, str]]:
    """When the device installed each release of its line up to the one it runs today (each some days after it
    came out), as (day, version) changes; the version before the first change is the oldest it could run."""
    from gatehouse.endpoints.checks import parse_version

    line = catalog.line_of(platform, version)
    wanted = parse_version(version)
    if line is None:
        return [(datetime.date.min, version)]
    ours = sorted(
        (
            r
            for r in releases
            if r.platform == platform and r.line == line and parse_version(r.version) <= wanted
        ),
        key=lambda r: parse_version(r.version),
    )
    if not ours or parse_version(ours[-1].version) != wanted:
        return [(datetime.date.min, version)]
    installed = []
    for release in ours:
        age = (today - release.released_on).days
        # Installed by today; for a release long before the history, exactly when does not matter.
        at_most = age if release is ours[-1] else min(age, 400)
        delay = _delay(rng, platform, at_most, age)
        installed.append((release.released_on + datetime.timedelta(days=delay), release))
    changes: list[tuple[datetime.date, str]] = [(datetime.date.min, ours[0].version)]
    newest = ()
    for day, release in sorted(installed, key=lambda x: (x[0], parse_version(x[1].version))):
        parsed = parse_version(release.version)
        if parsed > newest:
            newest = parsed
            changes.append((day, release.version))
    return changes


def backfill_history(fleet: list[Planned], *, today: datetime.date, versions: Versions, progress) -> None:
    """Synthesize the KPI snapshots and release adoption of the HISTORY_DAYS - 1 days before `today`."""
    from gatehouse.endpoints.checks import Catalog, check_os
    from gatehouse.endpoints.kpis import SECURITY_CHECKS

    first = today - datetime.timedelta(days=HISTORY_DAYS - 1)
    days = [first + datetime.timedelta(days=n) for n in range(HISTORY_DAYS - 1)]
    if KpiSnapshot.objects.filter(day__gte=first, day__lt=today).exists():
        return
    plan = {p.spec.serial: p for p in fleet}
    catalog = Catalog(versions.releases)
    exceptions = {
        e.device_id: e
        for e in DeviceException.objects.filter(expires_on__gte=today).order_by("created")  # in force today
    }
    tracked: list[_Tracked] = []
    rows = (
        Device.objects.filter(is_active=True)
        .order_by("serial")
        .values_list(
            "pk",
            "serial",
            "platform",
            "os_version",
            "failing_checks",
            "owner__department",
            "owner__manager__email",
        )
    )
    for pk, serial, platform, version, failing, department, manager in rows:
        planned = plan.get(serial)
        rng = _rng(serial, "history")
        device = _Tracked(
            pk=pk,
            platform=platform,
            department=department or "",
            manager=(manager or "")[:200],
            version_changes=_version_changes(platform, version, versions.releases, catalog, today, rng),
        )
        if pk in exceptions:
            device.counted_until = timezone.localdate(exceptions[pk].created) - datetime.timedelta(days=1)
        if set(failing or ()) & SECURITY_CHECKS:
            onset = planned.onset if planned is not None else 3
            device.failing_since = first if onset is None else today - datetime.timedelta(days=onset)
        tracked.append(device)

    _draw_lapses(tracked, days, today)

    catalogs: dict[int, Catalog] = {}
    patch_memo: dict[tuple[str, str, datetime.date], bool] = {}
    policies = versions.policies

    def patched(platform: str, version: str, day: datetime.date) -> bool:
        key = (platform, version, day)
        if key not in patch_memo:
            out = [r for r in versions.releases if r.released_on <= day]
            if len(out) not in catalogs:
                catalogs[len(out)] = Catalog(out)
            catalog = catalogs[len(out)]
            policy = policies.get(platform)
            device = Device(platform=platform, os_version=version)
            patch_memo[key] = (
                policy is None or check_os(device, policy, catalog, day, Platform(platform).label).passed
            )
        return patch_memo[key]

    snapshots: list[KpiSnapshot] = []
    adoption: list[ReleaseAdoption] = []
    for day in progress(days, total=len(days), desc="KPI history"):
        slices: dict[tuple[str, str], list[int]] = {(KpiSnapshot.Dimension.COMPANY, ""): [0, 0, 0]}
        counted_versions: Counter = Counter()
        for device in tracked:
            if not device.counted_on(day):
                continue
            version = device.version_on(day)
            counted_versions[(device.platform, version)] += 1
            failing_security = day in device.lapses or (
                device.failing_since is not None and day >= device.failing_since
            )
            patch = patched(device.platform, version, day)
            for key in (
                (KpiSnapshot.Dimension.COMPANY, ""),
                (KpiSnapshot.Dimension.PLATFORM, device.platform),
                (KpiSnapshot.Dimension.DEPARTMENT, device.department),
                (KpiSnapshot.Dimension.MANAGER, device.manager),
            ):
                counts = slices.setdefault(key, [0, 0, 0])
                counts[0] += 1
                counts[1] += not failing_security
                counts[2] += patch
        snapshots += [
            KpiSnapshot(
                day=day,
                dimension=dimension,
                key=key,
                active_devices=n,
                security_tools_passing=security,
                patch_passing=patch,
            )
            for (dimension, key), (n, security, patch) in slices.items()
        ]
        adoption += adoption_of(day, counted_versions, releases=versions.releases, catalog=catalog)
    KpiSnapshot.objects.bulk_create(snapshots, batch_size=1000)
    ReleaseAdoption.objects.bulk_create(adoption, batch_size=1000)
    company = [s for s in snapshots if s.dimension == KpiSnapshot.Dimension.COMPANY]
    record_events(
        [
            EventDraft(
                action=AuditAction.CREATE,
                object_type="endpoints.kpisnapshot",
                object_id=f"{days[0].isoformat()}..{days[-1].isoformat()}",
                object_repr=f"Demo KPI history {days[0].isoformat()} to {days[-1].isoformat()}",
                changes={
                    "backfill": [
                        None,
                        {
                            "days": len(days),
                            "first_day": days[0].isoformat(),
                            "last_day": days[-1].isoformat(),
                            "snapshot_rows": len(snapshots),
                            "adoption_rows": len(adoption),
                            "security_tools_percent": [
                                percent(company[0].security_tools_passing, company[0].active_devices),
                                percent(company[-1].security_tools_passing, company[-1].active_devices),
                            ],
                            "patch_percent": [
                                percent(company[0].patch_passing, company[0].active_devices),
                                percent(company[-1].patch_passing, company[-1].active_devices),
                            ],
                            "how": "synthesized by the demo: each device's OS updates and agent lapses, "
                            "counted back from today's state",
                        },
                    ]
                },
            )
        ]
    )


def _draw_lapses(tracked: list[_Tracked], days: list[datetime.date], today: datetime.date) -> None:
    """Earlier security lapses (an agent not reporting for a few days, an out-of-date agent) so the company's
    security tools compliance runs from SECURITY_START up to today's, a little unevenly: each day, just enough
    devices are lapsed, each lapse lasting some days."""
    rng = _rng("lapses")
    counted_today = [d for d in tracked if d.counted_on(today)]
    failing_today = sum(d.failing_since is not None for d in counted_today)
    end = 100.0 * (1 - failing_today / len(counted_today)) if counted_today else 100.0
    start = min(SECURITY_START, end)
    ongoing: dict[int, datetime.date] = {}  # device pk -> last day of its lapse
    by_pk = {d.pk: d for d in tracked}
    for index, day in enumerate(days):
        counted = [d for d in tracked if d.counted_on(day)]
        progress = index / max(len(days), 1)
        wobble = 0.9 * math.sin(index / 6.5) + rng.uniform(-0.4, 0.4)
        target = start + (end - start) * progress + wobble * (1 - progress)
        wanted = round(len(counted) * (1 - min(target, 100.0) / 100.0))
        persistent = sum(1 for d in counted if d.failing_since is not None and day >= d.failing_since)
        ongoing = {pk: last for pk, last in ongoing.items() if last >= day and by_pk[pk].counted_on(day)}
        extra = max(0, wanted - persistent)
        while len(ongoing) > extra:
            ongoing.pop(min(ongoing, key=lambda pk: (ongoing[pk], pk)))
        free = [
            d
            for d in counted
            if d.pk not in ongoing and not (d.failing_since is not None and day >= d.failing_since)
        ]
        while len(ongoing) < extra and free:
            device = free.pop(rng.randrange(len(free)))
            ongoing[device.pk] = min(
                day + datetime.timedelta(days=rng.randint(2, 12)), today - datetime.timedelta(days=1)
            )
        for pk in ongoing:
            by_pk[pk].lapses.add(day)
