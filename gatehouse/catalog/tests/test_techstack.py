"""The tech stack format without the database: normalizers, owner cells, reading and writing YAML."""

import datetime
import random

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gatehouse.catalog.models import Audience, AuthMethod, DataClassification, Tier
from gatehouse.catalog.techstack import (
    AUDIENCE_WORDS,
    BOOLEANS,
    CLASSIFICATIONS,
    NORMALIZERS,
    RENDERERS,
    SCOPES,
    TIERS,
    OwnerFragment,
    TechStackError,
    dump_tech_stack,
    normalize_audience,
    normalize_auth_method,
    normalize_bool,
    normalize_classification,
    normalize_scopes,
    normalize_text,
    normalize_tier,
    read_tech_stack,
    split_owner_text,
)

# --- normalizers: the spellings of the real files ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "tier"),
    [
        ("Tier 3 / Non-critical", 3),
        ("TIer 3 / Non-critical", 3),
        ("Tier 3 / non-critical", 3),
        ("Tier 3 Non-Critical", 3),
        ("Tier 2 Support", 2),
        ("Tier 2 / Support", 2),
        ("Tier 2 Core", 2),
        ("Tier 2 Business", 2),
        ("Tier 2", 2),
        ("Tier 1 Business", 1),
        ("Tier 1 Product", 1),
        ("Tier 1 Mission Critical", 1),
        ("Tier 2 Business Critical", 2),
        ("Tier 3 Business Operational", 3),
        ("Tier 4 Administrative", 4),
        ("tier 2 something new", 2),  # the number is what counts
        (2, 2),
        (None, None),
        ("", None),
    ],
)
def test_tiers(raw, tier):
    mapped = normalize_tier(raw)
    assert mapped.value == tier and mapped.problem is None


@pytest.mark.parametrize("raw", ["TBD", "Tier 5", "critical", True, 7, ["Tier 1"]])
def test_unknown_tiers_are_reported_not_guessed(raw):
    mapped = normalize_tier(raw)
    assert mapped.value is None and mapped.problem == "is not a known tier"


@pytest.mark.parametrize(
    ("raw", "value", "problem"),
    [
        ("Orange", "orange", None),
        (" RED ", "red", None),
        ("yellow", "yellow", None),
        ("Green (public)", "green", None),
        (None, "", None),
        ("N/A - OSQuery does not store any data", "", "is not a known data classification"),
        ("Red or Orange", "", "names more than one classification"),
        (False, "", "is not a known data classification"),
    ],
)
def test_classifications(raw, value, problem):
    assert normalize_classification(raw).value == value
    assert normalize_classification(raw).problem == problem


@pytest.mark.parametrize(
    ("raw", "value", "problem"),
    [
        (True, True, None),
        (False, False, None),
        (None, None, None),
        ("yes", True, None),
        ("No", False, None),
        (" TRUE ", True, None),
        ("", None, None),
        ("TBD", None, "is not yes or no"),
        ("in Okta", None, "is not yes or no"),
        (1, True, None),
    ],
)
def test_booleans(raw, value, problem):
    mapped = normalize_bool(raw)
    assert (mapped.value, mapped.problem) == (value, problem)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("Employee", "employee"),
        ("employee facing", "employee"),
        ("emplyoyee", "employee"),  # a typo
        ("Employee and customer", "both"),
        ("both", "both"),
        ("Both", "both"),
        ("Customer", "customer"),
        ("customer", "customer"),
        (None, ""),
    ],
)
def test_audiences(raw, value):
    mapped = normalize_audience(raw)
    assert mapped.value == value and mapped.problem is None


@pytest.mark.parametrize(
    "raw",
    [
        "Partners",
        "No",
        "Employee and Vendor",
        "The tool and the visualization data are publicly accessible",
        True,
    ],
)
def test_unknown_audiences_are_reported(raw):
    assert normalize_audience(raw).value == ""
    assert normalize_audience(raw).problem == "is not a known audience"


@pytest.mark.parametrize(
    ("raw", "codes", "problem"),
    [
        ("SOX", ["sox"], None),
        ("SOC2", ["soc2"], None),
        ("SOC 2", ["soc2"], None),
        ("SOX, SOC 2 and PCI DSS", ["pci", "soc2", "sox"], None),
        ("ISO 27001", ["iso27001"], None),
        ("none", [], None),
        (False, [], None),
        (None, [], None),
        (["SOX", "pci"], ["pci", "sox"], None),
        ("TBD", [], "is not a known compliance scope"),
        ("SOX / TBD", ["sox"], "is not a known compliance scope"),  # what is known is kept
        (True, [], "is not a known compliance scope"),
    ],
)
def test_compliance_scopes(raw, codes, problem):
    mapped = normalize_scopes(raw)
    assert (mapped.value, mapped.problem) == (codes, problem)


@pytest.mark.parametrize(
    ("raw", "method"),
    [
        ("SAML", "saml"),
        ("SWA", "swa"),
        ("SWA/SAML", "saml"),  # the strongest method named
        ("SWA/SAML/Other", "saml"),
        ("Okta", "saml"),
        ("SSO", "saml"),
        ("SFDC SSO login", "saml"),
        ("Azure Active Directory", "saml"),
        ("Google SSO", "oidc"),
        ("Gmail SSO", "oidc"),
        ("SSO with Google", "oidc"),
        ("Access is via GitLab's Google Suite SSO", "oidc"),
        ("GitLab SSO", "oidc"),
        ("OATH", "oidc"),
        ("Email and password", "password"),
        ("Individual email/password login", "password"),
        ("is and password", "password"),
        ("Other (email + password)", "password"),
        ("AWS IAM", "other"),
        ("other", "other"),
        (None, ""),
        ("", ""),
    ],
)
def test_auth_methods(raw, method):
    mapped = normalize_auth_method(raw)
    assert mapped.value == method and mapped.problem is None


@pytest.mark.parametrize(
    "raw", ["TBD", "unknown", "no", "NA", "Slack", "Multiple options", "Login through SFDC"]
)
def test_unknown_auth_methods_are_reported(raw):
    assert normalize_auth_method(raw).value == ""
    assert normalize_auth_method(raw).problem == "is not a known authentication method"


def test_text_too_long_for_its_field_is_left_empty_and_reported():
    assert normalize_text("  #it_help ", 100).value == "#it_help"
    mapped = normalize_text("#" + "x" * 100, 100)
    assert mapped.value == "" and mapped.problem == "is longer than 100 characters"
    assert normalize_text(["a"]).problem == "is a list, not text"


# --- normalizers: properties ------------------------------------------------------------------------------

yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@given(st.one_of(st.text(), yaml_values))
@settings(max_examples=300)
def test_normalizers_never_raise(raw):
    for normalize in NORMALIZERS.values():
        mapped = normalize(raw)
        assert mapped.problem is None or isinstance(mapped.problem, str)


@given(st.text())
def test_owner_cells_never_raise(text):
    for fragment in split_owner_text(text):
        assert fragment.handles or fragment.emails or fragment.text


def _variant(text: str, seed: int) -> str:
    """The same words with other letter case and more whitespace around them."""
    rng = random.Random(seed)
    cased = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)
    return " " * rng.randint(0, 2) + cased.replace(" ", " " * rng.randint(1, 3)) + "\t" * rng.randint(0, 1)


KNOWN = [
    (normalize_tier, list(TIERS)),
    (normalize_classification, list(CLASSIFICATIONS)),
    (normalize_bool, list(BOOLEANS)),
    (normalize_audience, [*AUDIENCE_WORDS, "employee facing", "employee and customer"]),
    (normalize_scopes, [*SCOPES, "SOC 2", "PCI DSS"]),
    (normalize_auth_method, ["SAML", "SWA/SAML", "Google SSO", "Email and password", "Okta", "AWS IAM"]),
]


@given(st.sampled_from([(n, s) for n, spellings in KNOWN for s in spellings]), st.integers())
def test_case_and_whitespace_variants_map_the_same(known, seed):
    normalize, spelling = known
    original = normalize(spelling)
    variant = normalize(_variant(spelling, seed))
    assert original.problem is None
    assert variant == original


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("tier", [None, *Tier.values]),
        ("classification", ["", *DataClassification.values]),
        ("audience", ["", *Audience.values]),
        ("auth", ["", *AuthMethod.values]),
        ("bool", [None, True, False]),
        ("scopes", [[], ["sox"], ["pci", "soc2", "sox"], ["fedramp", "gdpr", "hipaa", "iso27001"]]),
        ("text", ["", "a text"]),
    ],
)
def test_canonical_renderings_read_back_as_the_same_value(kind, values):
    for value in values:
        mapped = NORMALIZERS[kind](RENDERERS[kind](value))
        assert mapped.value == value and mapped.problem is None


# --- owner cells ------------------------------------------------------------------------------------------


def test_owner_cells_split_on_commas_and_ampersands_and_whitespace_between_handles():
    assert split_owner_text("@marin @dawsmith") == [OwnerFragment(handles=("marin", "dawsmith"))]
    assert split_owner_text("@amberwiley,@rhark") == [
        OwnerFragment(("amberwiley",)),
        OwnerFragment(("rhark",)),
    ]
    assert split_owner_text("Mek Stittri, VP Of Quality Engineering & Kristie Thomas") == [
        OwnerFragment(text="Mek Stittri"),
        OwnerFragment(text="VP Of Quality Engineering"),
        OwnerFragment(text="Kristie Thomas"),
    ]
    assert split_owner_text("Sheela Viswanathan and Jack Brennan") == [
        OwnerFragment(text="Sheela Viswanathan"),
        OwnerFragment(text="Jack Brennan"),
    ]


def test_owner_cells_keep_group_paths_and_emails_whole_and_drop_remarks():
    assert split_owner_text(
        "FinSys Admin Team '@gitlab-com/business-technology/enterprise-apps/financeops'"
    ) == [
        OwnerFragment(
            handles=("gitlab-com/business-technology/enterprise-apps/financeops",), text="FinSys Admin Team"
        )
    ]
    assert split_owner_text("@tauriedavis (UX) @jburton (MktgOps)") == [
        OwnerFragment(handles=("tauriedavis", "jburton"))
    ]
    assert split_owner_text("@kristie.thomas, @jg20  (this is also a baseline entitlement") == [
        OwnerFragment(("kristie.thomas",)),
        OwnerFragment(("jg20",)),
    ]
    assert split_owner_text("ask ada@example.com.") == [
        OwnerFragment(emails=("ada@example.com",), text="ask")
    ]
    assert split_owner_text("Tag @jeffersonmartin.") == [OwnerFragment(("jeffersonmartin",), text="Tag")]


# --- reading and writing ----------------------------------------------------------------------------------


def read(text: str):
    return read_tech_stack(text, "stack.yml")


def problems(text: str) -> list[str]:
    with pytest.raises(TechStackError) as exc:
        read(text)
    return exc.value.problems


def test_reading_keeps_entries_keys_in_order_and_lines():
    entries = read("# header\n- title: A\n  zeta: 1\n  alpha: null\n\n- title: B\n")
    assert [e.number for e in entries] == [1, 2]
    assert [e.line for e in entries] == [2, 6]
    assert list(entries[0].data) == ["title", "zeta", "alpha"]
    assert entries[1].where("stack.yml") == "stack.yml: entry 2 (B)"


def test_malformed_yaml_names_the_line():
    assert problems("- title: A\n- title: [B\n  x: 1\n") == [
        "stack.yml: line 3: invalid YAML: expected ',' or ']', but got ':'"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "stack.yml: the file is empty (expected a list of systems)"),
        ("title: A\n", "stack.yml: line 1: the top level is a mapping, not a list of systems"),
        ("just text\n", "stack.yml: line 1: the top level is a single value, not a list of systems"),
    ],
)
def test_top_level_must_be_a_list(text, expected):
    assert problems(text) == [expected]


def test_entry_problems_are_all_listed_by_entry():
    text = "- title: A\n- just text\n- title: C\n  title: D\n- title: E\n  blob: !!binary aGVsbG8=\n"
    assert problems(text) == [
        "stack.yml: entry 2: line 2: not a mapping of keys to values",
        "stack.yml: entry 3 (D): line 4: key 'title' appears twice",
        "stack.yml: entry 4 (E): blob: a bytes value cannot be stored (expected text, numbers, lists, mappings)",
    ]


def test_dates_stay_text_and_are_written_back_as_they_were():
    entries = read("- title: A\n  reviewed: 2022-11-01\n")
    assert entries[0].data["reviewed"] == "2022-11-01"
    written = dump_tech_stack([entries[0].data])
    assert yaml.safe_load(written)[0]["reviewed"] == datetime.date(2022, 11, 1)
    assert yaml.safe_load(written) == yaml.safe_load("- title: A\n  reviewed: 2022-11-01\n")
