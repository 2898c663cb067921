"""The tech stack YAML format: reading, normalizing its messy values to the catalog's enums, and writing it.

A tech stack file is a YAML list of mappings, one per system (docs/catalog-import.md). This module knows the
format and nothing of the database: importers.py matches people and teams and writes through the services.

Every normalizer takes the raw YAML value and returns a Mapped: the value for the System field, plus a short
reason when the raw value could not be (fully) mapped. Normalizers never raise. The tables below are the data
they use; change them, not the code, to accept a new spelling.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import yaml

from gatehouse.catalog.models import Audience, AuthMethod, DataClassification, Tier

# ---------------------------------------------------------------------------------------------------------
# Mapping tables. Keys are compared after `value_key`: case folded, every run of non-letters and non-digits
# a single space, so "Tier 3 / Non-critical", "TIer 3 / Non-critical" and "tier 3 non critical" are one key.

TIERS: dict[str, int] = {
    # The newer file's names, which are Gatehouse's.
    "tier 1 mission critical": Tier.MISSION_CRITICAL,
    "tier 2 business critical": Tier.BUSINESS_CRITICAL,
    "tier 3 business operational": Tier.BUSINESS_OPERATIONAL,
    "tier 4 administrative": Tier.ADMINISTRATIVE,
    # The 2022 file's names: two kinds of Tier 1 and of Tier 2, and "non-critical" for the rest.
    "tier 1 business": Tier.MISSION_CRITICAL,
    "tier 1 product": Tier.MISSION_CRITICAL,
    "tier 2 core": Tier.BUSINESS_CRITICAL,
    "tier 2 support": Tier.BUSINESS_CRITICAL,
    "tier 2 business": Tier.BUSINESS_CRITICAL,
    "tier 3 non critical": Tier.BUSINESS_OPERATIONAL,
    # The qualifier alone.
    "mission critical": Tier.MISSION_CRITICAL,
    "business critical": Tier.BUSINESS_CRITICAL,
    "business operational": Tier.BUSINESS_OPERATIONAL,
    "non critical": Tier.BUSINESS_OPERATIONAL,
    "administrative": Tier.ADMINISTRATIVE,
}
# Any other "Tier N ..." (also "T2", "Teir 3", "2") is tier N: the number is what the file means.
TIER_NUMBER = re.compile(r"^(?:tier|teir|t)? ?([1-4])(?: .*)?$")

CLASSIFICATIONS: dict[str, str] = {
    "red": DataClassification.RED,
    "orange": DataClassification.ORANGE,
    "yellow": DataClassification.YELLOW,
    "green": DataClassification.GREEN,
}

BOOLEANS: dict[str, bool] = {
    **dict.fromkeys(("yes", "y", "true", "t", "1", "on", "x"), True),
    **dict.fromkeys(("no", "n", "false", "f", "0", "off", "none"), False),
}

# Audience: the words of the cell, each one of these (or a filler word); both kinds of word make "both".
AUDIENCE_WORDS: dict[str, str] = {
    **dict.fromkeys(("employee", "employees", "staff", "internal", "team", "member", "members"), "employee"),
    **dict.fromkeys(("customer", "customers", "client", "clients"), "customer"),
    "both": "both",
}
AUDIENCE_FILLER = {"and", "facing", "app", "apps", "application", "only", "user", "users", "a", "the"}
AUDIENCE_TYPO_CUTOFF = 0.8  # "emplyoyee" is an employee; difflib ratio against the words above

# Authentication method: the first rule whose pattern occurs in the (case-folded) cell wins, so a cell naming
# several methods ("SWA/SAML") gets the strongest: SAML, then OIDC, then SWA, then password, then other.
# Okta and generic "SSO" are read as SAML (an Okta SSO tile is SAML unless the file says SWA); Google and
# GitLab sign-in are OpenID Connect; "OATH" is a typo of OAuth.
AUTH_METHOD_RULES: list[tuple[str, str]] = [
    (r"\bsaml\b", AuthMethod.SAML),
    (r"\b(?:oidc|openid|oauth2?|oath)\b", AuthMethod.OIDC),
    (r"\b(?:google|gmail|g ?suite)\b", AuthMethod.OIDC),
    (
        r"\bgitlab\b.*\b(?:sso|log ?in|sign ?in)\b|\b(?:log|sign) ?in (?:with|through|via) gitlab\b",
        AuthMethod.OIDC,
    ),
    (r"\b(?:okta|sso|single sign on|azure (?:ad|active directory))\b", AuthMethod.SAML),
    (r"\bswa\b", AuthMethod.SWA),
    (r"\bpass ?words?\b", AuthMethod.PASSWORD),
    (r"\b(?:aws iam|other|custom)\b", AuthMethod.OTHER),
]
_AUTH_RULES = [(re.compile(pattern), method) for pattern, method in AUTH_METHOD_RULES]

# Compliance scopes: each part of the cell (split on , ; / & + "and"), letters and digits only, lower case.
SCOPES: dict[str, str] = {
    "sox": "sox",
    "soc2": "soc2",
    "soc2type2": "soc2",
    "soc2typeii": "soc2",
    "pci": "pci",
    "pcidss": "pci",
    "iso27001": "iso27001",
    "iso": "iso27001",
    "hipaa": "hipaa",
    "fedramp": "fedramp",
    "gdpr": "gdpr",
}
NO_SCOPE = {"", "none", "no", "na", "false", "nil", "null", "notinscope", "outofscope"}
# How an export spells a scope, as the files do.
SCOPE_NAMES: dict[str, str] = {
    "sox": "SOX",
    "soc2": "SOC2",
    "pci": "PCI",
    "iso27001": "ISO27001",
    "hipaa": "HIPAA",
    "fedramp": "FedRAMP",
    "gdpr": "GDPR",
}

# Words of a job title: a fragment made of them after a person's name ("Eric Johnson, CTO") is not an owner.
TITLE_WORDS = re.compile(
    r"\b(?:vp|svp|evp|cto|ceo|cfo|cio|ciso|coo|cpo|chief|director|manager|head|lead|senior|sr|jr|staff|"
    r"principal|engineer|engineering|admin|administrator|analyst|specialist|officer|president|exec|"
    r"executive|assistant|coordinator|of)\b",
    re.IGNORECASE,
)

# Words of an instruction ("Please add the labels ...", "Leave Assignee blank, then tag ..."): text holding
# one is never read as a name or as the label of a handle beside it, so the cell is flagged.
INSTRUCTION_WORDS = re.compile(
    r"\b(?:please|leave|tag|add|label|labels|open|log|follow|assign|instructions?|request|provisioned|"
    r"deprovisioned|automatic|automatically|self service|via|through|n a|not)\b",
    re.IGNORECASE,
)

# ---------------------------------------------------------------------------------------------------------
# The keys of the format and the System fields they map to.


@dataclass(frozen=True)
class KeySpec:
    key: str
    target: str  # a System field; "compliance_scopes"; "owner_team"; or a contact role
    kind: str  # text, bool, tier, classification, audience, auth, scopes, contact, team


MAPPED_KEYS: dict[str, KeySpec] = {
    spec.key: spec
    for spec in (
        KeySpec("title", "name", "text"),
        KeySpec("team_member_baseline_entitlement", "baseline_entitlement", "bool"),
        KeySpec("subprocessor", "is_subprocessor", "bool"),
        KeySpec("description", "description", "text"),
        KeySpec("access_to", "access_to", "text"),
        KeySpec("provisioner", "provisioner", "contact"),
        KeySpec("deprovisioner", "deprovisioner", "contact"),
        KeySpec("group_owner", "owner_team", "team"),
        KeySpec("group_owner_slack_channel", "chat_channel", "text"),
        KeySpec("business_owner", "business_owner", "contact"),
        KeySpec("technical_owner", "technical_owner", "contact"),
        KeySpec("data_classification", "data_classification", "classification"),
        KeySpec("authentication_method", "auth_method", "auth"),
        KeySpec("integration_method", "auth_method", "auth"),  # the 2022 name
        KeySpec("critical_systems_tier", "tier", "tier"),
        KeySpec("compliance_scope", "compliance_scopes", "scopes"),
        KeySpec("employee_or_customer_facing_app", "audience", "audience"),
        KeySpec("notes", "notes", "text"),
        KeySpec("handbook_link", "handbook_link", "text"),
    )
}
AUTH_KEYS = ("authentication_method", "integration_method")  # newer first: it wins when both are present
# The order an export writes a system that was never imported: the newer file's keys.
DEFAULT_KEY_ORDER = [key for key in MAPPED_KEYS if key != "integration_method"]
# How the summary names what could not be mapped.
KIND_NAMES = {
    "tier": "tiers",
    "classification": "classifications",
    "audience": "audiences",
    "auth": "auth methods",
    "scopes": "compliance scopes",
    "bool": "yes/no values",
    "text": "texts",
}


# ---------------------------------------------------------------------------------------------------------
# Normalizers

T = TypeVar("T")


@dataclass(frozen=True)
class Mapped(Generic[T]):
    value: T
    problem: str | None = None  # e.g. "is not a known tier"; said after the raw value


def value_key(text: str) -> str:
    """Case folded, every run of characters other than letters and digits one space, trimmed."""
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def _is_empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _scalar_text(raw: Any) -> str | None:
    """A scalar as text (YAML may give numbers or booleans), None for lists and mappings."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str | int | float):
        return str(raw)
    return None


def normalize_text(raw: Any, max_length: int | None = None) -> Mapped[str]:
    """Free text, trimmed; "" for null. Too long for its field: left empty (the original is kept as text)."""
    if raw is None:
        return Mapped("")
    text = _scalar_text(raw)
    if text is None:
        return Mapped("", f"is a {type(raw).__name__}, not text")
    text = text.strip()
    if max_length is not None and len(text) > max_length:
        return Mapped("", f"is longer than {max_length} characters")
    return Mapped(text)


def normalize_bool(raw: Any) -> Mapped[bool | None]:
    if isinstance(raw, bool) or raw is None:
        return Mapped(raw)
    if _is_empty(raw):
        return Mapped(None)
    text = _scalar_text(raw)
    value = BOOLEANS.get(value_key(text)) if text is not None else None
    if value is None:
        return Mapped(None, "is not yes or no")
    return Mapped(value)


def normalize_tier(raw: Any) -> Mapped[int | None]:
    if _is_empty(raw):
        return Mapped(None)
    if isinstance(raw, bool) or (text := _scalar_text(raw)) is None:
        return Mapped(None, "is not a known tier")
    key = value_key(text)
    if key in TIERS:
        return Mapped(int(TIERS[key]))
    match = TIER_NUMBER.match(key)
    if match:
        return Mapped(int(match.group(1)))
    return Mapped(None, "is not a known tier")


def normalize_classification(raw: Any) -> Mapped[str]:
    if _is_empty(raw):
        return Mapped("")
    text = _scalar_text(raw)
    words = value_key(text).split() if text is not None and not isinstance(raw, bool) else []
    found = list(dict.fromkeys(CLASSIFICATIONS[w] for w in words if w in CLASSIFICATIONS))
    if len(found) == 1 and words[0] in CLASSIFICATIONS:
        return Mapped(found[0])
    if len(found) > 1:
        return Mapped("", "names more than one classification")
    return Mapped("", "is not a known data classification")


def _audience_word(word: str) -> str | None:
    if word in AUDIENCE_WORDS:
        return AUDIENCE_WORDS[word]
    if len(word) >= 5:
        close = difflib.get_close_matches(word, list(AUDIENCE_WORDS), n=1, cutoff=AUDIENCE_TYPO_CUTOFF)
        if close:
            return AUDIENCE_WORDS[close[0]]
    return None


def normalize_audience(raw: Any) -> Mapped[str]:
    if _is_empty(raw):
        return Mapped("")
    text = _scalar_text(raw)
    if text is None or isinstance(raw, bool):
        return Mapped("", "is not a known audience")
    kinds: set[str] = set()
    for word in value_key(text).split():
        if word in AUDIENCE_FILLER:
            continue
        kind = _audience_word(word)
        if kind is None:
            return Mapped("", "is not a known audience")
        kinds.add(kind)
    if not kinds:
        return Mapped("", "is not a known audience")
    if "both" in kinds or {"employee", "customer"} <= kinds:
        return Mapped(Audience.BOTH.value)
    return Mapped(kinds.pop())


def normalize_auth_method(raw: Any) -> Mapped[str]:
    if _is_empty(raw):
        return Mapped("")
    text = _scalar_text(raw)
    if text is None or isinstance(raw, bool):
        return Mapped("", "is not a known authentication method")
    key = value_key(text)
    for pattern, method in _AUTH_RULES:
        if pattern.search(key):
            return Mapped(str(method))
    return Mapped("", "is not a known authentication method")


_SCOPE_SEPARATORS = re.compile(r"[,;/&+]|\band\b", re.IGNORECASE)


def normalize_scopes(raw: Any) -> Mapped[list[str]]:
    """Scope codes, sorted; the codes it knows are kept even when another part of the cell is unknown."""
    if raw is None or raw is False:
        return Mapped([])
    if isinstance(raw, list):
        parts = [_scalar_text(item) for item in raw]
    elif raw is True or (text := _scalar_text(raw)) is None:
        return Mapped([], "is not a known compliance scope")
    else:
        parts = _SCOPE_SEPARATORS.split(text)
    codes: set[str] = set()
    unknown = False
    for part in parts:
        key = re.sub(r"[\W_]+", "", part.casefold()) if part is not None else "?"
        if key in NO_SCOPE:
            continue
        if key in SCOPES:
            codes.add(SCOPES[key])
        else:
            unknown = True
    return Mapped(sorted(codes), "is not a known compliance scope" if unknown else None)


# Normalizers by kind, for the kinds that need no directory.
NORMALIZERS: dict[str, Callable[[Any], Mapped[Any]]] = {
    "text": normalize_text,
    "bool": normalize_bool,
    "tier": normalize_tier,
    "classification": normalize_classification,
    "audience": normalize_audience,
    "auth": normalize_auth_method,
    "scopes": normalize_scopes,
}


# ---------------------------------------------------------------------------------------------------------
# Canonical rendering: how an export writes a value that was changed in Gatehouse (or never imported).
# normalize_*(render_*(v)) == v for every value, so a re-import of an export changes nothing.


def render_text(value: str) -> str | None:
    return value or None


def render_bool(value: bool | None) -> bool | None:
    return value


def render_tier(value: int | None) -> str | None:
    return Tier(value).label if value else None


def render_choice(choices: type) -> Callable[[str], str | None]:
    labels = dict(choices.choices)
    return lambda value: labels.get(value, value) if value else None


def render_scopes(codes: list[str]) -> str | None:
    return ", ".join(SCOPE_NAMES.get(code, code.upper()) for code in sorted(codes)) or None


RENDERERS: dict[str, Callable[[Any], Any]] = {
    "text": render_text,
    "bool": render_bool,
    "tier": render_tier,
    "classification": render_choice(DataClassification),
    "audience": render_choice(Audience),
    "auth": render_choice(AuthMethod),
    "scopes": render_scopes,
}


def show(raw: Any, limit: int = 60) -> str:
    """A raw value as a problem message quotes it: YAML-like, cut short."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    text = " ".join(str(raw).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text) if isinstance(raw, str) else text


# ---------------------------------------------------------------------------------------------------------
# Owner and provisioner cells: prose naming people and teams.


@dataclass(frozen=True)
class OwnerFragment:
    """One part of an owner cell: the handles and emails in it, and the words around them."""

    handles: tuple[str, ...] = ()  # without the @, as written
    emails: tuple[str, ...] = ()
    text: str = ""  # the rest: a name, a team, a title, or an instruction


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A handle: @ not inside a word or an email, then letters, digits, _ . - and / (for group paths), ending on a
# letter, digit or _, so a full stop after "@jane." is not part of it.
_HANDLE = re.compile(r"(?<![\w.+-])@([\w](?:[\w.\-/]*[\w])?)")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")
_REMARK = re.compile(r"\([^()]*\)?")  # "(UX)", and an unclosed "(this is also ..." to the end
_OWNER_SEPARATORS = re.compile(r"\s*(?:[,;&/|\n]|\b(?:and|or|then)\b)\s*", re.IGNORECASE)
# Quotes (straight and curly), dashes and punctuation around a fragment.
_TRIM = " \t'\"\u2018\u2019\u201c\u201d`.:;-\u2013\u2014!?*"


def split_owner_text(text: str) -> list[OwnerFragment]:
    """Split an owner or provisioner cell on commas, "and", "&", "/", "or"; handles and emails kept whole.

    Parenthesised remarks are dropped except for handles in them; whitespace separates handles, so
    "@marin @dawsmith" is two. Never raises.
    """
    tokens: list[tuple[str, str]] = []  # ("email" | "handle", value)

    def hold(kind: str) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            tokens.append((kind, match.group(0) if kind == "email" else match.group(1)))
            return f" \x00{len(tokens) - 1}\x00 "

        return replace

    text = text.replace("\x00", " ")
    text = _EMAIL.sub(hold("email"), text)
    text = _HANDLE.sub(hold("handle"), text)
    # A remark in parentheses is not an owner, but a handle in it is: "@atflowers (Digital Production)".
    text = _REMARK.sub(
        lambda m: " " + " ".join(f"\x00{i}\x00" for i in _PLACEHOLDER.findall(m.group(0))) + " ", text
    )
    fragments: list[OwnerFragment] = []
    for part in _OWNER_SEPARATORS.split(text):
        held = [tokens[int(i)] for i in _PLACEHOLDER.findall(part)]
        words = " ".join(_PLACEHOLDER.sub(" ", part).split()).strip(_TRIM)
        if not held and not words:
            continue
        fragments.append(
            OwnerFragment(
                handles=tuple(value for kind, value in held if kind == "handle"),
                emails=tuple(value for kind, value in held if kind == "email"),
                text=words,
            )
        )
    return fragments


def looks_like_title(text: str) -> bool:
    return bool(TITLE_WORDS.search(text)) or (text.isupper() and len(text) <= 5)


def name_key(text: str) -> str:
    """How names are compared: case folded, whitespace collapsed."""
    return " ".join(text.casefold().split())


# ---------------------------------------------------------------------------------------------------------
# Reading and writing the YAML


class TechStackError(Exception):
    """The file cannot be read as a tech stack; `problems` says where and why."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


_TIMESTAMP = "tag:yaml.org,2002:timestamp"


def _without_timestamps(resolvers: dict[Any, list[tuple[str, Any]]]) -> dict[Any, list[tuple[str, Any]]]:
    return {
        first: [(tag, rx) for tag, rx in rules if tag != _TIMESTAMP] for first, rules in resolvers.items()
    }


class _Loader(yaml.SafeLoader):
    """Safe YAML, but dates stay text: an unknown key's value must fit System.extra (JSON) unchanged."""


class _Dumper(yaml.SafeDumper):
    """Writes date-like text unquoted, as it was read, so `safe_load` sees the same value in both files."""


_Loader.yaml_implicit_resolvers = _without_timestamps(yaml.SafeLoader.yaml_implicit_resolvers)
_Dumper.yaml_implicit_resolvers = _without_timestamps(yaml.SafeDumper.yaml_implicit_resolvers)


@dataclass
class Entry:
    """One system as the file gives it."""

    number: int  # 1-based position in the list
    line: int  # where it starts in the file
    data: dict[str, Any] = field(default_factory=dict)  # keys in file order, values as YAML read them

    @property
    def title(self) -> str:
        title = self.data.get("title")
        return title.strip() if isinstance(title, str) else ""

    def where(self, name: str) -> str:
        return f"{name}: entry {self.number} ({self.title})" if self.title else f"{name}: entry {self.number}"


def _json_problem(value: Any, path: str) -> str | None:
    """Why a value cannot be kept as JSON, or None. YAML can hold binary, sets and non-text keys."""
    if value is None or isinstance(value, bool | int | float | str):
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}: key {key!r} is not text"
            problem = _json_problem(item, f"{path}.{key}")
            if problem:
                return problem
        return None
    return (
        f"{path}: a {type(value).__name__} value cannot be stored (expected text, numbers, lists, mappings)"
    )


def read_tech_stack(text: str, name: str) -> list[Entry]:
    """Every entry of a tech stack file. Raises TechStackError listing each problem with the file's shape:
    YAML syntax (by line), a top level that is not a list, entries that are not mappings or repeat a key,
    values that cannot be stored. Checks of the values themselves are the importer's."""
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{name}: line {mark.line + 1}" if mark is not None else name
            reason = getattr(exc, "problem", None) or str(exc)
            raise TechStackError([f"{where}: invalid YAML: {reason}"]) from None
        if root is None:
            raise TechStackError([f"{name}: the file is empty (expected a list of systems)"])
        if not isinstance(root, yaml.SequenceNode):
            kind = "a mapping" if isinstance(root, yaml.MappingNode) else "a single value"
            raise TechStackError(
                [f"{name}: line {root.start_mark.line + 1}: the top level is {kind}, not a list of systems"]
            )
        entries: list[Entry] = []
        problems: list[str] = []
        for number, node in enumerate(root.value, 1):
            entry = Entry(number, node.start_mark.line + 1)
            if not isinstance(node, yaml.MappingNode):
                problems.append(f"{entry.where(name)}: line {entry.line}: not a mapping of keys to values")
                continue
            try:
                data = loader.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                problems.append(f"{entry.where(name)}: line {entry.line}: {getattr(exc, 'problem', exc)}")
                continue
            entry.data = data
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = key_node.value
                if key in seen:
                    problems.append(
                        f"{entry.where(name)}: line {key_node.start_mark.line + 1}: key {key!r} appears twice"
                    )
                seen.add(key)
            problem = _json_problem(data, "")
            if problem:
                problems.append(f"{entry.where(name)}: {problem.lstrip('.: ')}")
            entries.append(entry)
        if problems:
            raise TechStackError(problems)
        return entries
    finally:
        loader.dispose()


def dump_tech_stack(entries: list[dict[str, Any]]) -> str:
    """The file: one mapping per system, keys in the given order, a blank line between systems."""
    blocks = [
        yaml.dump(
            [entry], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False
        )
        for entry in entries
    ]
    return "\n".join(blocks) if blocks else "[]\n"
