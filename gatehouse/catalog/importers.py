"""Tech stack import and export: the YAML file in, systems upserted by slug, all or nothing; and back out.

read_catalog_file (parse) → plan_catalog_import (check the file, normalize every value, match owners to
people and teams) → apply_plan (write through catalog.services, in one transaction). A file with a broken
shape (YAML, top level, entries, titles) is rejected whole, each problem naming its entry; values that cannot
be mapped are not errors: they stay as text in System.source_values and are listed in System.import_problems.
export_catalog writes the same format back. docs/catalog-import.md describes both.
"""

from __future__ import annotations

import codecs
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils.text import slugify

from gatehouse.catalog.models import ComplianceScope, ContactRole, System, SystemContact
from gatehouse.catalog.selectors import contacts_by_role, system_list
from gatehouse.catalog.services import Party, create_system, party_key, update_system
from gatehouse.catalog.techstack import (
    AUTH_KEYS,
    DEFAULT_KEY_ORDER,
    INSTRUCTION_WORDS,
    MAPPED_KEYS,
    NORMALIZERS,
    RENDERERS,
    Entry,
    KeySpec,
    Mapped,
    TechStackError,
    dump_tech_stack,
    looks_like_title,
    name_key,
    read_tech_stack,
    show,
    split_owner_text,
)
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.models import Person, Team

LABEL_PREFIX = "corpsys::"  # the label a system created by an import gets: corpsys::<slug>
OWNER_KEYS = ("business_owner", "technical_owner", "group_owner")
PROVISIONER_KEYS = ("provisioner", "deprovisioner")
LABEL_WORDS = 4  # words beside a matched handle up to this many are its label ("FinSys Admin Team '@…'")

Progress = Callable[..., Iterator[Any]]


def _no_progress(iterable: Iterable[Any], **kwargs: Any) -> Iterator[Any]:
    return iter(iterable)


class CatalogImportError(Exception):
    """The file was rejected; nothing was written. Each problem reads "FILE: entry N (title): reason"."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# ---------------------------------------------------------------------------------------------------------
# People and teams named in owner cells


@dataclass
class Resolution:
    parties: list[Party] = field(default_factory=list)  # in the order the cell names them, no repeats
    unmatched: list[str] = field(default_factory=list)  # fragments that name nobody known


def _index(items: Iterable[tuple[str, Any]]) -> dict[str, list[Any]]:
    index: dict[str, list[Any]] = defaultdict(list)
    for key, item in items:
        if key and item not in index[key]:
            index[key].append(item)
    return index


def _one(candidates: list[Any] | None) -> Any:
    """The only candidate; none when there are several, since a guess would link the wrong person."""
    return candidates[0] if candidates and len(candidates) == 1 else None


class Directory:
    """People and teams by every name an owner cell may use, loaded once so matching needs no queries."""

    def __init__(self, people: Iterable[Person], teams: Iterable[Team]):
        people, teams = list(people), list(teams)
        self.people_by_handle = _index((p.handle.casefold().lstrip("@"), p) for p in people)
        self.people_by_local_part = _index((p.email.casefold().partition("@")[0], p) for p in people)
        self.people_by_email = _index((p.email.casefold(), p) for p in people)
        self.people_by_name = _index((name_key(p.name), p) for p in people)
        self.teams_by_handle = _index(
            (handle.casefold().lstrip("@"), t) for t in teams for handle in (t.mention_handle, t.chat_handle)
        )
        self.teams_by_name = _index(
            [(name_key(t.name), t) for t in teams] + [(t.slug.casefold(), t) for t in teams]
        )

    @classmethod
    def load(cls) -> Directory:
        return cls(
            Person.objects.only("id", "email", "name", "handle"),
            Team.objects.only("id", "name", "slug", "chat_handle", "mention_handle"),
        )

    def match_handle(self, handle: str, *, teams_only: bool = False) -> Party | None:
        """@handle: a person's handle, else a team's mention or chat handle, else an email's local part."""
        key = handle.casefold().lstrip("@")
        if not teams_only and (person := _one(self.people_by_handle.get(key))):
            return person
        if team := _one(self.teams_by_handle.get(key)):
            return team
        return None if teams_only else _one(self.people_by_local_part.get(key))

    def match_name(self, text: str, *, teams_only: bool = False) -> Party | None:
        """A person's full name (only when one person has it), else a team's name or slug."""
        key = name_key(text)
        if not teams_only and (person := _one(self.people_by_name.get(key))):
            return person
        return _one(self.teams_by_name.get(key)) or _one(self.teams_by_name.get(slugify(text)))

    def resolve(self, raw: Any, *, teams_only: bool = False) -> Resolution:
        """The people and teams an owner or provisioner cell names, and the text that names nobody."""
        if raw is None or raw is False or (isinstance(raw, str) and not raw.strip()):
            return Resolution()
        if not isinstance(raw, str):
            return Resolution(unmatched=[show(raw)])
        # The whole cell first: a team's name may hold "and" or a comma.
        whole = None if "@" in raw else self.match_name(raw.strip(), teams_only=teams_only)
        if whole is not None:
            return Resolution([whole])
        parties: list[Party] = []
        unmatched: list[str] = []
        after_name = False
        for fragment in split_owner_text(raw):
            found: list[Party] = []
            missing: list[str] = []
            for email in fragment.emails:
                person = None if teams_only else _one(self.people_by_email.get(email.casefold()))
                if person:
                    found.append(person)
                else:
                    missing.append(email)
            for handle in fragment.handles:
                party = self.match_handle(handle, teams_only=teams_only)
                if party:
                    found.append(party)
                else:
                    missing.append(f"@{handle}")
            words = fragment.text
            instruction = bool(INSTRUCTION_WORDS.search(words))
            if words and not (found and len(words.split()) <= LABEL_WORDS and not instruction):
                party = None if instruction else self.match_name(words, teams_only=teams_only)
                if party is None and fragment.handles and not found:  # "@Lauren Conway"
                    party = self.match_name(f"{fragment.handles[0]} {words}", teams_only=teams_only)
                    missing = missing[1:] if party else missing
                if party is not None:
                    found.append(party)
                elif not (after_name and not fragment.handles and looks_like_title(words)):
                    missing.append(words)  # a title after a name ("Eric Johnson, CTO") is not missing
            after_name = bool(words) and not fragment.handles and not fragment.emails
            parties.extend(found)
            unmatched.extend(missing)
        return Resolution(list(dict.fromkeys(parties)), unmatched)

    def render(self, party: Party) -> str:
        """How an export names a contact, in a form resolve() reads back."""
        if isinstance(party, Person):
            return f"@{party.handle.lstrip('@')}" if party.handle else party.email
        handle = party.mention_handle or party.chat_handle
        return f"@{handle.lstrip('@')}" if handle else party.name


# ---------------------------------------------------------------------------------------------------------
# Values of one key: normalized for the system, and compared with what the system holds


def map_value(spec: KeySpec, raw: Any, directory: Directory, scope_codes: set[str]) -> Mapped[Any]:
    """The value a key's raw text gives its target (parties for contacts, a Team or None for group_owner)."""
    if spec.kind == "contact":
        resolution = directory.resolve(raw)
        if not resolution.unmatched:
            return Mapped(resolution.parties)
        if not resolution.parties:
            return Mapped([], "names no known person or team")
        return Mapped(resolution.parties, f"not fully mapped; left as text: {_fragments(resolution)}")
    if spec.kind == "team":
        resolution = directory.resolve(raw, teams_only=True)
        team = resolution.parties[0] if resolution.parties else None
        if team is None:
            return Mapped(None, "is not a known team" if resolution.unmatched else None)
        if resolution.unmatched or len(resolution.parties) > 1:
            return Mapped(team, f"names more than one team or other text; owner team set to {team.name!r}")
        return Mapped(team)
    if spec.kind == "text":
        mapped = NORMALIZERS["text"](raw, System._meta.get_field(spec.target).max_length)
    else:
        mapped = NORMALIZERS[spec.kind](raw)
    if spec.kind == "scopes":
        unknown = [code for code in mapped.value if code not in scope_codes]
        if unknown:  # a scope the admin removed from Gatehouse
            return Mapped(
                [c for c in mapped.value if c in scope_codes],
                f"names a scope Gatehouse lacks: {', '.join(unknown)}",
            )
    return mapped


def _fragments(resolution: Resolution) -> str:
    return ", ".join(show(text, 40) for text in resolution.unmatched)


def comparable(spec: KeySpec, value: Any) -> Any:
    """A mapped value in the form compared with the system's: contacts by key, the team by id."""
    if spec.kind == "contact":
        return [party_key(party) for party in value]
    if spec.kind == "team":
        return value.pk if value is not None else None
    return value


def current_value(spec: KeySpec, system: System, contacts: dict[str, list[SystemContact]]) -> Any:
    """What the system holds for a key, comparable with comparable(map_value(...))."""
    if spec.kind == "contact":
        return [contact.key for contact in contacts[spec.target]]
    if spec.kind == "team":
        return system.owner_team_id
    if spec.kind == "scopes":
        return sorted(scope.code for scope in system.compliance_scopes.all())
    return getattr(system, spec.target)


def render_value(
    spec: KeySpec, system: System, contacts: dict[str, list[SystemContact]], directory: Directory
) -> Any:
    """The canonical text of what the system holds for a key."""
    if spec.kind == "contact":
        return ", ".join(directory.render(contact.party) for contact in contacts[spec.target]) or None
    if spec.kind == "team":
        return system.owner_team.name if system.owner_team else None
    return RENDERERS[spec.kind](current_value(spec, system, contacts))


# ---------------------------------------------------------------------------------------------------------
# Parse


def read_catalog_file(path: Path | str) -> list[Entry]:
    """The entries of a tech stack file; CatalogImportError if its shape is broken."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogImportError([f"{name}: cannot read the file: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode(
            "utf-16" if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
        )
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogImportError([f"{name}: line {line}: not UTF-8 text; save the file as UTF-8"]) from None
    try:
        return read_tech_stack(text, name)
    except TechStackError as exc:
        raise CatalogImportError(exc.problems) from None


# ---------------------------------------------------------------------------------------------------------
# Plan


@dataclass
class LinkCounts:
    people: int = 0
    teams: int = 0
    text: int = 0  # cells with text that names nobody known (the whole cell or part of it)


@dataclass
class EntryPlan:
    entry: Entry
    where: str  # "FILE: entry N (title)"
    slug: str
    system: System | None  # the system it updates; None to create one
    fields: dict[str, Any]
    scopes: list[str]
    contacts: dict[str, list[Party]]
    problems: list[str]
    mapped: list[tuple[KeySpec, Mapped[Any]]]  # every mapped key's outcome, for the summary's counts


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    owners: LinkCounts = field(default_factory=LinkCounts)
    provisioners: LinkCounts = field(default_factory=LinkCounts)
    unmapped: Counter[str] = field(default_factory=Counter)  # kind (techstack.KIND_NAMES) → entries
    problems: list[tuple[str, list[str]]] = field(default_factory=list)  # (where, problems) per entry
    dry_run: bool = False

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class CatalogPlan:
    rows: list[EntryPlan]
    result: ImportResult  # counts of links and problems, known before anything is written


@dataclass
class CatalogState:
    """Everything planning compares against, loaded in a fixed number of queries."""

    directory: Directory
    systems_by_slug: dict[str, System]
    systems_by_name: dict[str, list[System]]
    scope_codes: set[str]

    @classmethod
    def load(cls) -> CatalogState:
        systems = list(
            System.objects.select_related("owner_team").prefetch_related(
                Prefetch("contacts", queryset=SystemContact.objects.select_related("person", "team")),
                "compliance_scopes",
            )
        )
        return cls(
            Directory.load(),
            {s.slug: s for s in systems},
            _index((name_key(s.name), s) for s in systems),
            set(ComplianceScope.objects.values_list("code", flat=True)),
        )


def _title_problem(entry: Entry) -> str | None:
    if "title" not in entry.data:
        return "title is missing"
    title = entry.data["title"]
    if title is None or (isinstance(title, str) and not title.strip()):
        return "title is empty"
    if not isinstance(title, str | int | float) or isinstance(title, bool):
        return f"title is {show(title)}, not text"
    name = str(title).strip()
    if len(name) > System._meta.get_field("name").max_length:
        return f"title is longer than {System._meta.get_field('name').max_length} characters"
    if not slugify(name):
        return f"title {show(title)} gives no slug (it needs a letter or a digit)"
    return None


def system_slug(title: Any) -> str:
    return slugify(str(title).strip())[: System._meta.get_field("slug").max_length].strip("-")


def plan_entry(entry: Entry, where: str, state: CatalogState) -> EntryPlan:
    """Normalize one entry (its title already checked): System fields, scopes, contacts, and its problems."""
    data = entry.data
    auth_key = next((key for key in AUTH_KEYS if key in data), None)
    fields: dict[str, Any] = {
        spec.target: None if spec.kind in ("bool", "tier", "team") else ""
        for spec in MAPPED_KEYS.values()
        if spec.kind in ("text", "bool", "tier", "classification", "audience", "auth", "team")
    }
    contacts: dict[str, list[Party]] = {role: [] for role in ContactRole.values}
    scopes: list[str] = []
    extra: dict[str, Any] = {}
    source_values: dict[str, Any] = {}
    problems: list[str] = []
    outcomes: list[tuple[KeySpec, Mapped[Any]]] = []
    for key, raw in data.items():
        spec = MAPPED_KEYS.get(key)
        if spec is None or (spec.kind == "auth" and key != auth_key):
            extra[key] = raw  # unknown keys, and the older auth key when both are given, kept unchanged
            continue
        source_values[key] = raw
        mapped = map_value(spec, raw, state.directory, state.scope_codes)
        outcomes.append((spec, mapped))
        if mapped.problem:
            problems.append(f"{key}: {show(raw)} {mapped.problem}")
        if spec.kind == "contact":
            contacts[spec.target] = mapped.value
        elif spec.kind == "scopes":
            scopes = mapped.value
        else:
            fields[spec.target] = mapped.value
    fields.update(extra=extra, source_keys=list(data), source_values=source_values, import_problems=problems)
    slug = system_slug(data["title"])
    system = state.systems_by_slug.get(slug)
    if system is None:  # renamed in Gatehouse and exported since: the name is the new title
        system = _one(state.systems_by_name.get(name_key(fields["name"])))
    return EntryPlan(entry, where, slug, system, fields, scopes, contacts, problems, outcomes)


def _count(result: ImportResult, spec: KeySpec, mapped: Mapped[Any]) -> None:
    if spec.key in OWNER_KEYS + PROVISIONER_KEYS:
        counts = result.owners if spec.key in OWNER_KEYS else result.provisioners
        value = mapped.value
        parties = value if isinstance(value, list) else [value] if value is not None else []
        counts.people += sum(isinstance(p, Person) for p in parties)
        counts.teams += sum(isinstance(p, Team) for p in parties)
        counts.text += bool(mapped.problem)
    elif mapped.problem:
        result.unmapped[spec.kind] += 1


def plan_catalog_import(entries: list[Entry], name: str, state: CatalogState) -> CatalogPlan:
    """Check the file as a whole and normalize every entry; CatalogImportError lists every file problem."""
    problems: list[str] = []
    rows: list[EntryPlan] = []
    first_by_slug: dict[str, Entry] = {}
    claimed: dict[int, Entry] = {}
    result = ImportResult()
    if not entries:
        raise CatalogImportError([f"{name}: the file holds no systems"])
    for entry in entries:
        where = entry.where(name)
        title_problem = _title_problem(entry)
        if title_problem:
            problems.append(f"{where}: {title_problem}")
            continue
        slug = system_slug(entry.data["title"])
        if slug in first_by_slug:
            other = first_by_slug[slug]
            problems.append(
                f"{where}: the same system (slug {slug!r}) as entry {other.number} ({other.title})"
            )
            continue
        first_by_slug[slug] = entry
        row = plan_entry(entry, where, state)
        if row.system is not None:
            if row.system.pk in claimed:  # matched by name, but an earlier entry has it: a new system
                row.system = None
            else:
                claimed[row.system.pk] = entry
        rows.append(row)
    if problems:
        raise CatalogImportError(problems)
    for row in rows:
        for spec, mapped in row.mapped:
            _count(result, spec, mapped)
        if row.problems:
            result.problems.append((row.where, row.problems))
    return CatalogPlan(rows, result)


# ---------------------------------------------------------------------------------------------------------
# Apply


def _differs(row: EntryPlan) -> bool:
    """Whether the entry would change its system: compared here so an unchanged one costs no query at all."""
    system = row.system
    assert system is not None
    for name, value in row.fields.items():
        current = system.owner_team_id if name == "owner_team" else getattr(system, name)
        if (value.pk if name == "owner_team" and value is not None else value) != current:
            return True
    if sorted(scope.code for scope in system.compliance_scopes.all()) != sorted(row.scopes):
        return True
    contacts = contacts_by_role(system)
    return any(
        [c.key for c in contacts[role]] != [party_key(p) for p in parties]
        for role, parties in row.contacts.items()
    )


def apply_plan(plan: CatalogPlan, *, actor: Any = SYSTEM, progress: Progress = _no_progress) -> ImportResult:
    """Create or update every system through the catalog services (audited; unchanged ones untouched)."""
    result = plan.result
    for row in progress(plan.rows, total=len(plan.rows), desc="importing systems"):
        try:
            if row.system is None:
                label = f"{LABEL_PREFIX}{row.slug}"[: System._meta.get_field("label").max_length]
                create_system(
                    actor=actor,
                    contacts=row.contacts,
                    compliance_scopes=row.scopes,
                    slug=row.slug,
                    label=label,
                    **row.fields,
                )
                result.created += 1
            elif _differs(row):
                update_system(
                    row.system, actor=actor, contacts=row.contacts, compliance_scopes=row.scopes, **row.fields
                )
                result.updated += 1
            else:
                result.unchanged += 1
        except ValidationError as exc:  # a rule only the model knows; still name the entry
            messages = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
            raise CatalogImportError(
                [f"{row.where}: {name + ': ' if name else ''}{' '.join(m)}" for name, m in messages.items()]
            ) from exc
    return result


def import_catalog(
    path: Path | str, *, actor: Any = SYSTEM, dry_run: bool = False, progress: Progress = _no_progress
) -> ImportResult:
    """Import a tech stack file in one transaction. Raises CatalogImportError, having written nothing, if its
    shape is broken. Systems not in the file are left alone."""
    entries = read_catalog_file(path)
    with transaction.atomic():
        plan = plan_catalog_import(entries, str(path), CatalogState.load())
        result = apply_plan(plan, actor=actor, progress=progress)
        if dry_run:
            transaction.set_rollback(True)
    result.dry_run = dry_run
    return result


# ---------------------------------------------------------------------------------------------------------
# Export


def _export_keys(system: System) -> list[str]:
    """The keys of a system's entry: as the file gave them, then keys whose value was set in Gatehouse."""
    extra = system.extra or {}
    if not system.source_keys:
        return DEFAULT_KEY_ORDER + [key for key in extra if key not in DEFAULT_KEY_ORDER]
    values = system.source_values or {}
    keys = [key for key in system.source_keys if key in values or key in extra]
    auth_key = next((key for key in AUTH_KEYS if key in values), AUTH_KEYS[0])
    for key in DEFAULT_KEY_ORDER:
        key = auth_key if key in AUTH_KEYS else key
        if key not in keys:
            keys.append(key)  # dropped again below when the system holds nothing for it
    return keys + [key for key in extra if key not in keys]


def system_entry(system: System, directory: Directory, scope_codes: set[str]) -> dict[str, Any]:
    """A system as a tech stack entry: the original text of every value nobody changed since the import,
    the canonical text of the rest. Needs the system's contacts, scopes and owner team prefetched."""
    contacts = contacts_by_role(system)
    values = system.source_values or {}
    extra = system.extra or {}
    imported = bool(system.source_keys)
    entry: dict[str, Any] = {}
    for key in _export_keys(system):
        if key in extra and key not in values:
            entry[key] = extra[key]
            continue
        spec = MAPPED_KEYS[key]
        current = current_value(spec, system, contacts)
        if key in values:
            mapped = map_value(spec, values[key], directory, scope_codes)
            if comparable(spec, mapped.value) == current:
                entry[key] = values[key]
                continue
        rendered = render_value(spec, system, contacts, directory)
        if rendered is not None or key in values or not imported:
            entry[key] = rendered
    return entry


def export_catalog(out: Path | str | TextIO, *, user: Any = SYSTEM, progress: Progress = _no_progress) -> int:
    """Write every system the user can see as a tech stack file; returns how many."""
    directory = Directory.load()
    scope_codes = set(ComplianceScope.objects.values_list("code", flat=True))
    systems = list(system_list(user).order_by("name", "slug"))
    entries = [
        system_entry(system, directory, scope_codes)
        for system in progress(systems, total=len(systems), desc="exporting systems")
    ]
    text = dump_tech_stack(entries)
    if isinstance(out, str | Path):
        Path(out).write_text(text, encoding="utf-8")
    else:
        out.write(text)
    return len(entries)
