"""Loading the demo company: people, teams, systems and sign-ins, the same every time.

The plan (who exists, with which fields) is a pure function of the files in gatehouse/demo/data/ and their
fixed seed; loading writes it through the domain services, so every change is in the audit trail, and upserts
by email, slug and username, so a second load changes nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.models import ContactRole, DataClassification, System, Tier
from gatehouse.catalog.services import create_system, update_system
from gatehouse.directory.models import EmploymentType, Person, Team
from gatehouse.directory.services import create_person, create_team, update_person, update_team
from gatehouse.users.models import User
from gatehouse.users.roles import ROLES
from gatehouse.users.services import create_user

DATA_DIR = Path(__file__).resolve().parent / "data"
T = TypeVar("T")
Progress = Callable[..., Iterable[Any]]


class DemoError(Exception):
    """The demo data is wrong (the message names the file and entry) or the database is not the demo's."""


def _no_progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterable[T]:
    return iterable


@cache
def read_data(name: str) -> dict[str, Any]:
    path = DATA_DIR / name
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DemoError(f"{name}: {exc}") from exc


# --- The plan -----------------------------------------------------------------------------------------------


@dataclass
class PersonPlan:
    key: str  # the key in company.yml for named people, the email for generated ones
    named: bool
    email: str
    name: str
    handle: str
    manager_key: str | None
    department: str
    division: str
    title: str
    employment_type: str
    location: str
    time_zone: str
    start_date: datetime.date
    end_date: datetime.date | None = None
    hris_id: str = ""
    idp_id: str = ""

    def fields(self) -> dict[str, Any]:
        """The directory fields, without the manager (a person object, looked up when loading)."""
        return {
            "email": self.email,
            "name": self.name,
            "handle": self.handle,
            "department": self.department,
            "division": self.division,
            "title": self.title,
            "employment_type": self.employment_type,
            "location": self.location,
            "time_zone": self.time_zone,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "hris_id": self.hris_id,
            "idp_id": self.idp_id,
        }


@dataclass
class TeamPlan:
    slug: str
    name: str
    description: str
    chat_handle: str
    mention_handle: str
    chat_channel: str
    member_keys: list[str]


@dataclass
class SystemPlan:
    slug: str
    fields: dict[str, Any]
    owner_team_slug: str
    compliance_scopes: list[str]
    contacts: dict[str, list[tuple[str, str]]]  # role -> [("person", key) or ("team", slug)]


@dataclass
class UserPlan:
    username: str
    person_key: str
    roles: list[str]
    access_expires_in_days: int | None


@dataclass
class DemoPlan:
    domain: str
    reference_date: datetime.date
    people: list[PersonPlan]
    teams: list[TeamPlan]
    systems: list[SystemPlan]
    users: list[UserPlan]
    password: str

    @property
    def people_by_key(self) -> dict[str, PersonPlan]:
        return {p.key: p for p in self.people}


def _email_local(name: str) -> str:
    return ".".join(re.sub(r"[^a-z0-9 -]", "", name.lower()).split())


def _random_date(rng: random.Random, bounds: list[datetime.date]) -> datetime.date:
    start, end = bounds
    return start + datetime.timedelta(days=rng.randint(0, (end - start).days))


def _monday_of(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def _idp_id(email: str) -> str:
    # Shaped like an Okta user id, derived from the email so it never changes.
    return "00u" + hashlib.sha256(email.encode()).hexdigest()[:17]


def plan_people(company: dict[str, Any]) -> list[PersonPlan]:
    """Everyone, managers before their reports: named people from the file, their reports generated."""
    where = "company.yml"
    domain = company["domain"]
    rng = random.Random(company["seed"])
    locations = company["locations"]
    divisions = company["divisions"]
    named = company["people"]

    keys = [p["key"] for p in named]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise DemoError(f"{where}: people: key used twice: {', '.join(duplicates)}")
    roots = [p["key"] for p in named if not p.get("manager")]
    if len(roots) != 1:
        raise DemoError(f"{where}: people: exactly one person has no manager (the CEO); found {roots}")
    children: dict[str, list[dict]] = {}
    for index, spec in enumerate(named):
        if spec.get("manager") and spec["manager"] not in keys:
            raise DemoError(f"{where}: people[{index}] ({spec['key']}): unknown manager {spec['manager']!r}")
        if spec.get("department") not in divisions:
            raise DemoError(f"{where}: people[{index}] ({spec['key']}): department not in divisions")
        if not 0 <= spec.get("location", -1) < len(locations):
            raise DemoError(
                f"{where}: people[{index}] ({spec['key']}): location is not an index of locations"
            )
        children.setdefault(spec.get("manager") or "", []).append(spec)

    emails: set[str] = set()
    handles: set[str] = set()
    plans: list[PersonPlan] = []

    def add_named(spec: dict) -> PersonPlan:
        email = f"{_email_local(spec['name'])}@{domain}"
        if email in emails or spec["handle"] in handles:
            raise DemoError(f"{where}: people ({spec['key']}): email or handle used twice")
        location, time_zone = locations[spec["location"]]
        plan = PersonPlan(
            key=spec["key"],
            named=True,
            email=email,
            name=spec["name"],
            handle=spec["handle"],
            manager_key=spec.get("manager"),
            department=spec["department"],
            division=divisions[spec["department"]],
            title=spec["title"],
            employment_type=spec.get("employment_type", EmploymentType.EMPLOYEE),
            location=location,
            time_zone=time_zone,
            start_date=spec["start"],
        )
        emails.add(email)
        handles.add(plan.handle)
        return plan

    def add_generated(manager: PersonPlan, titles: list[str]) -> PersonPlan:
        while True:
            first, last = rng.choice(company["first_names"]), rng.choice(company["last_names"])
            email = f"{_email_local(first)}.{_email_local(last)}@{domain}"
            if email not in emails:
                break
        handle = (first[0] + last).lower()
        candidates = [handle, (first + last).lower()] + [f"{(first + last).lower()}{n}" for n in range(2, 99)]
        handle = next(h for h in candidates if h not in handles)
        location, time_zone = rng.choice(locations)
        plan = PersonPlan(
            key=email,
            named=False,
            email=email,
            name=f"{first} {last}",
            handle=handle,
            manager_key=manager.key,
            department=manager.department,
            division=manager.division,
            title=rng.choice(titles),
            employment_type=EmploymentType.EMPLOYEE,
            location=location,
            time_zone=time_zone,
            start_date=_monday_of(_random_date(rng, company["start_dates"])),
        )
        emails.add(email)
        handles.add(handle)
        return plan

    # Breadth first from the CEO, so every manager comes before their reports.
    queue = [add_named(children[""][0])]
    specs = {p["key"]: p for p in named}
    while queue:
        manager = queue.pop(0)
        plans.append(manager)
        for spec in children.get(manager.key, []):
            queue.append(add_named(spec))
        reports = specs.get(manager.key, {}).get("reports") if manager.named else None
        if reports:
            plans.extend(add_generated(manager, reports["titles"]) for _ in range(reports["count"]))

    # A few generated people are contractors, temporary service providers, leavers or terminated.
    generated = [p for p in plans if not p.named]
    kinds = [
        ("contractors", None),
        ("temporary_service_providers", "contract_end_dates"),
        ("leavers", "leaver_end_dates"),
        ("terminated", "terminated_end_dates"),
    ]
    chosen = rng.sample(generated, sum(company[kind] for kind, _ in kinds))
    for kind, dates in kinds:
        group, chosen = chosen[: company[kind]], chosen[company[kind] :]
        for person in group:
            if kind == "contractors":
                person.employment_type = EmploymentType.CONTRACTOR
            elif kind == "temporary_service_providers":
                person.employment_type = EmploymentType.TEMPORARY
                # A fixed-term engagement: started within the year before the reference date.
                days_before = datetime.timedelta(days=rng.randint(30, 330))
                person.start_date = _monday_of(company["reference_date"] - days_before)
            if dates:
                person.end_date = _random_date(rng, company[dates])
                person.start_date = min(
                    person.start_date, _monday_of(person.end_date - datetime.timedelta(days=90))
                )

    for number, person in enumerate(plans, start=company["hris_id_start"]):
        person.hris_id = f"E{number}"
        person.idp_id = _idp_id(person.email)
    return plans


def _in_place_at(person: PersonPlan, day: datetime.date) -> bool:
    return person.end_date is None or person.end_date >= day


def plan_teams(company: dict[str, Any], people: list[PersonPlan]) -> list[TeamPlan]:
    by_key = {p.key: p for p in people}
    teams = []
    for index, spec in enumerate(company["teams"]):
        manager = spec.get("members_of")
        if manager is not None and manager not in by_key:
            raise DemoError(f"company.yml: teams[{index}] ({spec['name']}): unknown members_of {manager!r}")
        keys = list(spec.get("members", []))
        if manager is not None:
            keys += [manager] + [p.key for p in people if p.manager_key == manager]
        unknown = [k for k in keys if k not in by_key]
        if unknown:
            raise DemoError(f"company.yml: teams[{index}] ({spec['name']}): unknown members {unknown}")
        teams.append(
            TeamPlan(
                slug=spec["slug"],
                name=spec["name"],
                description=spec.get("description", ""),
                chat_handle=spec.get("chat_handle", ""),
                mention_handle=spec.get("mention_handle", ""),
                chat_channel=spec.get("chat_channel", ""),
                member_keys=[k for k in keys if _in_place_at(by_key[k], company["reference_date"])],
            )
        )
    return teams


_TIERS = {label: value for value, label in Tier.choices}
_CLASSIFICATIONS = {label: value for value, label in DataClassification.choices}


def plan_systems(
    catalog: dict[str, Any], company: dict[str, Any], people: list[PersonPlan], functional: list[TeamPlan]
) -> tuple[list[TeamPlan], list[SystemPlan]]:
    """Each system with its owner team; owners and provisioners drawn with the seed from the owning department."""
    where = "systems.yml"
    by_key = {p.key: p for p in people}
    team_slugs = {t.slug for t in functional}
    owner_teams, systems = [], []
    for index, spec in enumerate(catalog["systems"]):
        slug = spec["slug"]
        place = f"{where}: systems[{index}] ({slug})"
        if spec["tier"] not in _TIERS:
            raise DemoError(f"{place}: tier {spec['tier']!r} is not one of {', '.join(_TIERS)}")
        if spec["data_classification"] not in _CLASSIFICATIONS:
            raise DemoError(f"{place}: unknown data_classification {spec['data_classification']!r}")
        for role in ("business_owner", "technical_owner"):
            if spec.get(role) and spec[role] not in by_key:
                raise DemoError(f"{place}: {role} {spec[role]!r} is not a key of company.yml people")
        if spec["provisioning_team"] not in team_slugs:
            raise DemoError(f"{place}: unknown provisioning_team {spec['provisioning_team']!r}")
        # Named people are placed by hand (the demo system owner must own exactly the systems it names).
        pool = [
            p.key
            for p in people
            if p.department == spec["owner_department"]
            and not p.named
            and p.end_date is None
            and p.employment_type == EmploymentType.EMPLOYEE
        ]
        if len(pool) < 3:
            raise DemoError(f"{place}: owner_department {spec['owner_department']!r} has too few people")
        drawn = random.Random(f"{company['seed']}:{slug}").sample(pool, 3)
        technical_owner = spec.get("technical_owner") or drawn[0]
        helpers = [k for k in drawn if k != technical_owner][:2]

        fields = {
            "slug": slug,
            "name": spec["name"],
            "description": spec.get("description", ""),
            "label": spec["label"],
            "chat_channel": spec.get("chat_channel", ""),
            "tier": _TIERS[spec["tier"]],
            "data_classification": _CLASSIFICATIONS[spec["data_classification"]],
            "auth_method": spec.get("auth_method", ""),
            "scim_supported": spec.get("scim"),
            "baseline_entitlement": spec.get("baseline"),
            "is_subprocessor": bool(spec.get("subprocessor", False)),
            "audience": spec.get("audience", ""),
            "vendor": spec.get("vendor", ""),
            "handbook_link": catalog["handbook_link"].format(slug=slug, name=spec["name"]),
            "access_request_url": catalog["access_request_url"].format(slug=slug),
            "issue_template_url": catalog["issue_template_url"].format(slug=slug),
            "extra": {"category": spec["category"]},
        }
        scopes = list(spec.get("compliance_scopes", []))
        probe = System(
            **{k: v for k, v in fields.items() if k in ("tier", "data_classification", "is_subprocessor")}
        )
        critical = probe.compute_effective_tier(set(scopes)) <= Tier.BUSINESS_CRITICAL
        # DESIGN: critical systems need two provisioners and two deprovisioners; the desk offboards everywhere.
        people_who_provision = [("person", k) for k in helpers[: 2 if critical else 1]]
        owner_team = TeamPlan(
            slug=f"sysowners-{slug}",
            name=f"{spec['name']} owners",
            description=f"Owners of {spec['name']}: approve and fulfil access, review access, own findings.",
            chat_handle=spec["chat_team"],
            mention_handle=spec["mention_handle"],
            chat_channel=spec.get("chat_channel", ""),
            member_keys=list(dict.fromkeys([spec["business_owner"], technical_owner, *helpers])),
        )
        owner_teams.append(owner_team)
        systems.append(
            SystemPlan(
                slug=slug,
                fields=fields,
                owner_team_slug=owner_team.slug,
                compliance_scopes=scopes,
                contacts={
                    ContactRole.BUSINESS_OWNER: [("person", spec["business_owner"])],
                    ContactRole.TECHNICAL_OWNER: [("person", technical_owner)],
                    ContactRole.PROVISIONER: [*people_who_provision, ("team", spec["provisioning_team"])],
                    ContactRole.DEPROVISIONER: list(
                        dict.fromkeys([*people_who_provision, ("team", "it-helpdesk")])
                    ),
                },
            )
        )
    return owner_teams, systems


def plan_users(accounts: dict[str, Any], people: list[PersonPlan]) -> list[UserPlan]:
    by_key = {p.key: p for p in people}
    plans = []
    for index, spec in enumerate(accounts["users"]):
        place = f"users.yml: users[{index}] ({spec.get('username')})"
        if spec["person"] not in by_key:
            raise DemoError(f"{place}: person {spec['person']!r} is not a key of company.yml people")
        unknown = [r for r in spec["roles"] if r not in ROLES]
        if unknown:
            raise DemoError(f"{place}: unknown roles {unknown}")
        days = spec.get("access_expires_in_days")
        if days is not None and (not isinstance(days, int) or days < 1):
            raise DemoError(f"{place}: access_expires_in_days must be a whole number of days, 1 or more")
        plans.append(UserPlan(spec["username"], spec["person"], list(spec["roles"]), days))
    return plans


def build_plan() -> DemoPlan:
    """Everything the demo holds, from the data files alone: no database, no clock."""
    company, catalog, accounts = read_data("company.yml"), read_data("systems.yml"), read_data("users.yml")
    try:
        people = plan_people(company)
        functional = plan_teams(company, people)
        owner_teams, systems = plan_systems(catalog, company, people, functional)
        users = plan_users(accounts, people)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        # Our own files; a missing key is named, the entry is found by searching for it.
        raise DemoError(f"{DATA_DIR}: a value is missing or malformed: {exc!r}") from exc
    return DemoPlan(
        domain=company["domain"],
        reference_date=company["reference_date"],
        people=people,
        teams=functional + owner_teams,
        systems=systems,
        users=users,
        password=accounts["password"],
    )


# --- Loading ------------------------------------------------------------------------------------------------


@dataclass
class DemoSummary:
    totals: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    audit_events: int = 0
    sign_ins: list[tuple[str, str]] = field(default_factory=list)  # username, role labels
    password: str = ""


def check_database(plan: DemoPlan) -> None:
    """Refuse a database that holds anything but the demo: the demo's sign-ins have a public password."""
    strangers = {
        "people": Person.objects.exclude(email__in=[p.email for p in plan.people]).values_list("email"),
        "systems": System.objects.exclude(slug__in=[s.slug for s in plan.systems]).values_list("slug"),
        "teams": Team.objects.exclude(slug__in=[t.slug for t in plan.teams]).values_list("slug"),
    }
    for kind, values in strangers.items():
        example = values.first()
        if example:
            raise DemoError(
                f"The database holds {kind} that are not in the demo (e.g. {example[0]}); "
                "load the demo into an empty Gatehouse."
            )
    emails = {u.username: plan.people_by_key[u.person_key].email for u in plan.users}
    for user in User.objects.filter(username__in=emails).select_related("person"):
        if user.person is None or user.person.email != emails[user.username]:
            raise DemoError(
                f"A user named {user.username!r} exists and is not the demo's; "
                "load the demo into an empty Gatehouse."
            )


def _service_error(place: str, exc: ValidationError) -> DemoError:
    messages = (
        "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        if hasattr(exc, "error_dict")
        else " ".join(exc.messages)
    )
    return DemoError(f"{place}: {messages}")


def load_demo(*, actor, progress: Progress = _no_progress) -> DemoSummary:
    """Create or update the demo company in one transaction; a second load writes nothing."""
    plan = build_plan()
    summary = DemoSummary(password=plan.password)
    events_before = AuditEvent.objects.count()
    with transaction.atomic():
        check_database(plan)
        people = _load_people(plan, actor, progress, summary)
        teams = _load_teams(plan, people, actor, progress, summary)
        _load_systems(plan, people, teams, actor, progress, summary)
        _load_users(plan, people, actor, progress, summary)
        from gatehouse.demo.access import load_access  # access: entitlements, grants (issue 4, A)
        from gatehouse.demo.desk import load_desk_requests  # desk requests (part E)
        from gatehouse.demo.endpoints import load_endpoints  # devices, KPIs, remediation (issue 5)
        from gatehouse.demo.guides import load_guides  # desk guides (part C)

        load_guides(actor=actor, progress=progress, summary=summary)  # desk guides (part C)
        load_desk_requests(actor=actor, people_by_key=people, progress=progress, summary=summary)  # desk (E)
        load_access(actor=actor, progress=progress, summary=summary)  # access (issue 4, part A)
        load_endpoints(actor=actor, progress=progress, summary=summary)  # endpoints (issue 5)
    summary.audit_events = AuditEvent.objects.count() - events_before
    return summary


def _load_people(plan: DemoPlan, actor, progress: Progress, summary: DemoSummary) -> dict[str, Person]:
    existing = {p.email: p for p in Person.objects.filter(email__in=[p.email for p in plan.people])}
    loaded: dict[str, Person] = {}
    created = 0
    # Managers come before their reports in the plan, so each manager already exists.
    for spec in progress(plan.people, total=len(plan.people), desc="People"):
        fields = {**spec.fields(), "manager": loaded[spec.manager_key] if spec.manager_key else None}
        try:
            if spec.email in existing:
                person = update_person(existing[spec.email], actor=actor, **fields)
            else:
                person = create_person(actor=actor, **fields)
                created += 1
        except ValidationError as exc:
            raise _service_error(f"company.yml: person {spec.key}", exc) from exc
        loaded[spec.key] = person
    summary.totals["people"], summary.created["people"] = len(loaded), created
    return loaded


def _load_teams(
    plan: DemoPlan, people: dict[str, Person], actor, progress: Progress, summary: DemoSummary
) -> dict[str, Team]:
    existing = {t.slug: t for t in Team.objects.filter(slug__in=[t.slug for t in plan.teams])}
    loaded: dict[str, Team] = {}
    created = 0
    for spec in progress(plan.teams, total=len(plan.teams), desc="Teams"):
        fields = {
            "name": spec.name,
            "slug": spec.slug,
            "description": spec.description,
            "chat_handle": spec.chat_handle,
            "mention_handle": spec.mention_handle,
            "chat_channel": spec.chat_channel,
        }
        members = [people[k] for k in spec.member_keys]
        try:
            if spec.slug in existing:
                team = update_team(existing[spec.slug], actor=actor, members=members, **fields)
            else:
                team = create_team(actor=actor, members=members, **fields)
                created += 1
        except ValidationError as exc:
            raise _service_error(f"team {spec.slug}", exc) from exc
        loaded[spec.slug] = team
    summary.totals["teams"], summary.created["teams"] = len(loaded), created
    return loaded


def _load_systems(
    plan: DemoPlan,
    people: dict[str, Person],
    teams: dict[str, Team],
    actor,
    progress: Progress,
    summary: DemoSummary,
) -> None:
    existing = {s.slug: s for s in System.objects.filter(slug__in=[s.slug for s in plan.systems])}
    created = 0
    for spec in progress(plan.systems, total=len(plan.systems), desc="Systems"):
        contacts = {
            role: [people[ref] if kind == "person" else teams[ref] for kind, ref in parties]
            for role, parties in spec.contacts.items()
        }
        fields = {**spec.fields, "owner_team": teams[spec.owner_team_slug]}
        try:
            if spec.slug in existing:
                update_system(
                    existing[spec.slug],
                    actor=actor,
                    contacts=contacts,
                    compliance_scopes=spec.compliance_scopes,
                    **fields,
                )
            else:
                create_system(
                    actor=actor, contacts=contacts, compliance_scopes=spec.compliance_scopes, **fields
                )
                created += 1
        except ValidationError as exc:
            raise _service_error(f"systems.yml: system {spec.slug}", exc) from exc
    summary.totals["systems"], summary.created["systems"] = len(plan.systems), created


def _load_users(
    plan: DemoPlan, people: dict[str, Person], actor, progress: Progress, summary: DemoSummary
) -> None:
    # Existing demo users are left as they are: someone trying the demo may have changed their password.
    existing = set(
        User.objects.filter(username__in=[u.username for u in plan.users]).values_list("username", flat=True)
    )
    created = 0
    for spec in progress(plan.users, total=len(plan.users), desc="Sign-ins"):
        if spec.username not in existing:
            try:
                create_user(
                    actor=actor,
                    username=spec.username,
                    person=people[spec.person_key],
                    roles=spec.roles,
                    password=plan.password,
                    access_expires_at=(
                        timezone.now() + datetime.timedelta(days=spec.access_expires_in_days)
                        if spec.access_expires_in_days
                        else None
                    ),
                )
            except ValidationError as exc:
                raise _service_error(f"users.yml: user {spec.username}", exc) from exc
            created += 1
        summary.sign_ins.append((spec.username, ", ".join(ROLES[r]["label"] for r in spec.roles)))
    summary.totals["users"], summary.created["users"] = len(plan.users), created


def iter_sign_in_lines(summary: DemoSummary) -> Iterator[str]:
    width = max(len(u) for u, _ in summary.sign_ins) if summary.sign_ins else 0
    for username, roles in summary.sign_ins:
        yield f"  {username:<{width}}  {summary.password}  {roles}"
