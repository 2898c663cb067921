"""Importing and exporting the tech stack file: the real 219-entry file, owners, re-import, round trip, bad files."""

import io
import textwrap
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.importers import (
    CatalogImportError,
    CatalogState,
    Directory,
    export_catalog,
    import_catalog,
    plan_catalog_import,
    read_catalog_file,
)
from gatehouse.catalog.models import ContactRole, System
from gatehouse.catalog.services import create_system, update_system
from gatehouse.catalog.techstack import DEFAULT_KEY_ORDER
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

pytestmark = pytest.mark.django_db


def write(tmp_path: Path, text: str, name: str = "stack.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run(command: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def exported(tmp_path: Path) -> list[dict]:
    path = tmp_path / "export.yml"
    export_catalog(path)
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def by_title(entries: list[dict]) -> dict[str, dict]:
    return {entry["title"].strip(): entry for entry in entries}


def contacts(system: System, role: str) -> list:
    return [c.party for c in system.contacts.filter(role=role).select_related("person", "team")]


@pytest.fixture
def real_file(shared_data) -> Path:
    return shared_data / "tech_stack.yml"


# --- the real file ----------------------------------------------------------------------------------------


def test_the_real_file_imports_every_entry(real_file):
    entries = yaml.safe_load(real_file.read_text(encoding="utf-8"))
    vicki = PersonFactory(name="Vicki Laughlan", email="vicki@example.com", handle="vlaughlan")
    finance = TeamFactory(name="Finance", slug="finance")

    result = import_catalog(real_file)

    assert len(entries) == 219
    assert result.created == 219 and System.objects.count() == 219
    assert set(System.objects.values_list("name", flat=True)) == {e["title"].strip() for e in entries}
    adp = System.objects.get(slug="adp")
    assert adp.tier == 1 and adp.data_classification == "orange" and adp.label == "corpsys::adp"
    assert adp.effective_tier == 1 and list(adp.compliance_scopes.values_list("code", flat=True)) == ["sox"]
    assert adp.baseline_entitlement is False and adp.is_subprocessor is False
    assert adp.chat_channel == "#finance" and adp.owner_team == finance
    for role in ContactRole.values:  # "@vlaughlan" and "Vicki Laughlan" in every role
        assert contacts(adp, role) == [vicki], role
    assert adp.import_problems == []
    assert adp.source_values["critical_systems_tier"] == "Tier 1 Business"
    assert adp.source_keys == list(next(e for e in entries if e["title"] == "ADP"))

    # Keys the catalog does not know are kept unchanged in extra.
    allocadia = System.objects.get(slug="allocadia")
    assert allocadia.extra["need_move_to_okta"] == "in Okta"
    assert allocadia.extra["saas"] is True and allocadia.extra["processing_customer_data"] is False
    assert set(allocadia.extra) == {"need_move_to_okta", "collected_data", "processing_customer_data", "saas"}
    assert (
        allocadia.auth_method == ""
        and "integration_method: 'API through Workato" in allocadia.import_problems[-1]
    )

    anecdotes = System.objects.get(slug="anecdotes")
    assert "critical_systems_tier: 'TBD' is not a known tier" in anecdotes.import_problems
    assert "compliance_scope: 'TBD' is not a known compliance scope" in anecdotes.import_problems
    assert "business_owner: 'Julia Lake' names no known person or team" in anecdotes.import_problems
    assert anecdotes.tier is None

    assert result.unmapped["tier"] == 4 and result.unmapped["classification"] == 1
    assert result.owners.people == 2 and result.owners.teams > 0  # ADP's two owners; "Finance" teams
    assert result.provisioners.people == 2
    assert len(result.problems) == 218  # every entry but ADP names someone unknown
    assert result.problems[0][0] == f"{real_file}: entry 1 (1Password)"


def test_planning_the_real_file_makes_no_query_per_entry(real_file, django_assert_max_num_queries):
    for index in range(30):
        PersonFactory()
        TeamFactory(name=f"Team {index}", slug=f"team-{index}")
    entries = read_catalog_file(real_file)
    with django_assert_max_num_queries(6):
        plan = plan_catalog_import(entries, str(real_file), CatalogState.load())
    assert len(plan.rows) == 219


def test_reimporting_the_same_file_changes_nothing_and_audits_nothing(real_file):
    PersonFactory(name="Vicki Laughlan", handle="vlaughlan")
    import_catalog(real_file)
    events = AuditEvent.objects.count()
    assert events == 219  # one create each, contacts and scopes inside

    again = import_catalog(real_file)

    assert (again.created, again.updated, again.unchanged) == (0, 0, 219)
    assert System.objects.count() == 219
    assert AuditEvent.objects.count() == events


def test_exporting_makes_no_query_per_system(real_file, tmp_path, django_assert_max_num_queries):
    PersonFactory(name="Vicki Laughlan", handle="vlaughlan")
    TeamFactory(name="Finance", slug="finance")
    import_catalog(real_file)
    with django_assert_max_num_queries(6):
        assert export_catalog(tmp_path / "export.yml") == 219


def test_the_real_file_survives_a_round_trip_exactly(real_file, tmp_path):
    import_catalog(real_file)
    original = yaml.safe_load(real_file.read_text(encoding="utf-8"))
    exported_entries = exported(tmp_path)

    assert len(exported_entries) == len(original)
    again = by_title(exported_entries)
    for entry in original:
        written = again[entry["title"].strip()]
        assert list(written.items()) == list(entry.items()), entry["title"]  # same keys, order, values

    # And the export reads back as the same catalog.
    events = AuditEvent.objects.count()
    result = import_catalog(tmp_path / "export.yml")
    assert result.unchanged == 219 and AuditEvent.objects.count() == events


def test_the_newer_format_imports_and_round_trips(shared_data, tmp_path):
    path = shared_data / "tech_stack_newer_excerpt.yml"
    result = import_catalog(path)
    assert result.created == 5
    zendesk = System.objects.get(slug="zendesk-us-federal")
    assert zendesk.tier == 1 and zendesk.auth_method == "saml" and zendesk.data_classification == "red"
    alexandria = System.objects.get(slug="alexandria")
    assert alexandria.auth_method == "saml" and alexandria.extra["processing_customer_data"] is True
    assert by_title(exported(tmp_path)) == by_title(yaml.safe_load(path.read_text(encoding="utf-8")))


# --- a small file ----------------------------------------------------------------------------------------

SMALL = """
    # A file of our own: both formats, keys in unusual orders, unknown and nested keys, nulls and gaps.
    - title: Gadget
      authentication_method: Okta
      integration_method: SWA
      team_member_baseline_entitlement: 'TBD'
      group_owner: corp security
      data_classification: Red
      provisioner: Please add the label "access" and tag @corpsec/sys/gadget
    - title: "Widget Cloud  "
      critical_systems_tier: Tier 2 / Support
      description: null
      custom_rating: 7
      integration_method: SWA/SAML
      business_owner: '@ada, @nobody'
      compliance_scope: SOX, SOC 2
      contacts_page:
        url: https://example.com/widget
        tags: [a, b]
      reviewed: 2024-01-31
      employee_or_customer_facing_app: Employee and customer
"""


@pytest.fixture
def small_file(tmp_path) -> Path:
    return write(tmp_path, SMALL)


def test_a_small_file_imports_and_round_trips(small_file, tmp_path):
    ada = PersonFactory(name="Ada Lovelace", email="ada@example.com", handle="ada")
    team = TeamFactory(name="Corp Security", slug="corpsec", mention_handle="@corpsec/sys/gadget")
    import_catalog(small_file)

    widget = System.objects.get(slug="widget-cloud")
    assert widget.name == "Widget Cloud" and widget.tier == 2 and widget.auth_method == "saml"
    assert widget.audience == "both" and widget.description == ""
    assert sorted(widget.compliance_scopes.values_list("code", flat=True)) == ["soc2", "sox"]
    assert contacts(widget, "business_owner") == [ada]
    assert widget.import_problems == [
        "business_owner: '@ada, @nobody' not fully mapped; left as text: '@nobody'"
    ]
    assert widget.extra == {
        "custom_rating": 7,
        "contacts_page": {"url": "https://example.com/widget", "tags": ["a", "b"]},
        "reviewed": "2024-01-31",
    }
    gadget = System.objects.get(slug="gadget")
    assert gadget.auth_method == "saml"  # authentication_method wins; integration_method is kept in extra
    assert gadget.extra == {"integration_method": "SWA"}
    assert gadget.owner_team == team and gadget.effective_tier == 1  # Red data
    assert contacts(gadget, "provisioner") == [team]
    assert gadget.baseline_entitlement is None
    assert "team_member_baseline_entitlement: 'TBD' is not yes or no" in gadget.import_problems
    assert any(p.startswith("provisioner: 'Please add the label") for p in gadget.import_problems)

    assert exported(tmp_path) == yaml.safe_load(small_file.read_text())  # same order of systems, too
    assert [list(e) for e in exported(tmp_path)] == [list(e) for e in yaml.safe_load(small_file.read_text())]


def test_an_edit_in_gatehouse_shows_up_in_the_export(small_file, tmp_path):
    import_catalog(small_file)
    grace = PersonFactory(name="Grace Hopper", email="grace@example.com", handle="")
    widget = System.objects.get(slug="widget-cloud")
    update_system(
        widget,
        actor=SYSTEM,
        tier=1,
        audience="employee",
        description="Widgets, in the cloud.",
        contacts={"business_owner": [grace], "technical_owner": [grace]},
        compliance_scopes=["pci"],
    )

    entry = by_title(exported(tmp_path))["Widget Cloud"]

    assert entry["critical_systems_tier"] == "Tier 1 Mission Critical"
    assert entry["employee_or_customer_facing_app"] == "Employee"
    assert entry["description"] == "Widgets, in the cloud."
    assert entry["compliance_scope"] == "PCI"
    assert entry["business_owner"] == "grace@example.com"
    assert entry["technical_owner"] == "grace@example.com"  # a key the file lacked, set in Gatehouse: added
    assert entry["integration_method"] == "SWA/SAML"  # unchanged: the original text
    original_keys = list(yaml.safe_load(small_file.read_text())[1])
    assert list(entry)[: len(original_keys)] == original_keys and list(entry)[-1] == "technical_owner"

    # Importing the export again keeps the edits.
    path = tmp_path / "export.yml"
    result = import_catalog(path)
    widget.refresh_from_db()
    assert result.created == 0 and widget.tier == 1 and contacts(widget, "technical_owner") == [grace]


def test_a_system_made_in_gatehouse_is_exported_with_the_newer_keys(tmp_path):
    team = TeamFactory(name="IT", slug="it", chat_handle="@it-team")
    create_system(
        actor=SYSTEM,
        slug="vault",
        name="Vault",
        tier=2,
        data_classification="red",
        owner_team=team,
        contacts={"provisioner": [team]},
        extra={"vendor_id": 12},
    )
    (entry,) = exported(tmp_path)
    assert list(entry) == [*DEFAULT_KEY_ORDER, "vendor_id"]
    assert entry["title"] == "Vault" and entry["critical_systems_tier"] == "Tier 2 Business Critical"
    assert entry["data_classification"] == "Red" and entry["group_owner"] == "IT"
    assert entry["provisioner"] == "@it-team" and entry["description"] is None and entry["vendor_id"] == 12

    result = import_catalog(tmp_path / "export.yml")  # reads back as the same system
    vault = System.objects.get(slug="vault")
    assert result.updated == 1  # only the bookkeeping of what was imported
    assert vault.tier == 2 and vault.owner_team == team and contacts(vault, "provisioner") == [team]


def test_a_system_renamed_in_gatehouse_is_found_again_by_its_new_name(small_file, tmp_path):
    import_catalog(small_file)
    update_system(System.objects.get(slug="gadget"), actor=SYSTEM, name="Gadget Pro")
    exported(tmp_path)
    result = import_catalog(tmp_path / "export.yml")
    assert result.created == 0 and System.objects.filter(slug="gadget", name="Gadget Pro").exists()


def test_people_added_later_are_linked_by_the_next_import(small_file):
    import_catalog(small_file)
    nobody = PersonFactory(
        name="No Body", email="nobody@example.com", handle="someone-else"
    )  # email local part
    result = import_catalog(small_file)
    widget = System.objects.get(slug="widget-cloud")
    assert (result.updated, result.unchanged) == (1, 1)
    assert contacts(widget, "business_owner") == [nobody]  # "@ada" matches no one now; "@nobody" does
    assert widget.import_problems == [
        "business_owner: '@ada, @nobody' not fully mapped; left as text: '@ada'"
    ]


# --- matching owners --------------------------------------------------------------------------------------


def test_owner_cells_match_handles_emails_names_and_teams():
    ada = PersonFactory(name="Ada Lovelace", email="ada.l@example.com", handle="Ada")
    alan = PersonFactory(name="Alan Turing", email="alan.turing@example.com", handle="")
    PersonFactory(name="John Smith", email="js1@example.com")
    PersonFactory(name="John Smith", email="js2@example.com")
    ops = TeamFactory(name="IT Ops", slug="it-ops", chat_handle="@it-ops-chat", mention_handle="@corp/it/ops")
    finance = TeamFactory(name="Finance Team", slug="finance", chat_handle="")
    directory = Directory.load()

    def resolve(text):
        resolution = directory.resolve(text)
        return [str(p) for p in resolution.parties], resolution.unmatched

    assert resolve("@ada") == (["Ada Lovelace"], [])  # handle, any case
    assert resolve("@alan.turing") == (["Alan Turing"], [])  # local part of the email
    assert resolve("@corp/it/ops @it-ops-chat") == (["IT Ops"], [])  # mention and chat handle, once
    assert resolve("alan turing, Sr. Staff Engineer & @ADA") == (["Alan Turing", "Ada Lovelace"], [])
    assert resolve("it ops") == (["IT Ops"], [])
    assert resolve("finance") == (["Finance Team"], [])  # by slug
    assert resolve("John Smith") == ([], ["John Smith"])  # two people have that name: no guess
    assert resolve("Ada Lovelace '@nope'") == (["Ada Lovelace"], ["@nope"])
    assert resolve('Leave "Assignee" blank, then tag the group @corp/it/ops') == (
        ["IT Ops"],
        ['Leave "Assignee" blank', "tag the group"],
    )
    assert resolve("@ada Please follow the instructions here") == (
        ["Ada Lovelace"],
        ["Please follow the instructions here"],
    )
    assert resolve(None) == ([], []) and resolve("") == ([], [])
    assert directory.resolve("IT Ops", teams_only=True).parties == [ops]
    assert directory.resolve("Ada Lovelace", teams_only=True).parties == []
    assert directory.render(ada) == "@Ada" and directory.render(alan) == "alan.turing@example.com"
    assert directory.render(ops) == "@corp/it/ops" and directory.render(finance) == "Finance Team"


def test_group_owner_links_the_owner_team_or_reports_it(tmp_path):
    TeamFactory(name="Security", slug="security")
    path = write(
        tmp_path,
        """
        - title: One
          group_owner: security
        - title: Two
          group_owner: Security, Legal
        - title: Three
          group_owner: Marketing
        """,
    )
    result = import_catalog(path)
    one, two, three = (System.objects.get(slug=s) for s in ("one", "two", "three"))
    assert one.owner_team.slug == "security" and one.import_problems == []
    assert two.owner_team.slug == "security"
    assert two.import_problems == [
        "group_owner: 'Security, Legal' names more than one team or other text; owner team set to 'Security'"
    ]
    assert three.owner_team is None and three.import_problems == [
        "group_owner: 'Marketing' is not a known team"
    ]
    assert (result.owners.teams, result.owners.text) == (2, 2)


# --- bad files --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- title: A\n- title: [B\n  x: 1\n",
            ["stack.yml: line 3: invalid YAML: expected ',' or ']', but got ':'"],
        ),
        ("title: A\n", ["stack.yml: line 1: the top level is a mapping, not a list of systems"]),
        ("[]\n", ["stack.yml: the file holds no systems"]),
        ("- title: A\n- 42\n", ["stack.yml: entry 2: line 2: not a mapping of keys to values"]),
        ("- title: A\n- description: no title\n", ["stack.yml: entry 2: title is missing"]),
        ("- title: A\n- title: '  '\n", ["stack.yml: entry 2: title is empty"]),
        ("- title: A\n- title: null\n", ["stack.yml: entry 2: title is empty"]),
        ("- title: A\n- title: [x]\n", ["stack.yml: entry 2: title is ['x'], not text"]),
        (
            "- title: A\n- title: '!!!'\n",
            ["stack.yml: entry 2 (!!!): title '!!!' gives no slug (it needs a letter or a digit)"],
        ),
        (
            "- title: Zoom\n- title: B\n- title: ZOOM \n- title: ''\n",
            [
                "stack.yml: entry 3 (ZOOM): the same system (slug 'zoom') as entry 1 (Zoom)",
                "stack.yml: entry 4: title is empty",
            ],
        ),
    ],
)
def test_a_bad_file_writes_nothing_and_names_the_entry(tmp_path, text, expected):
    existing = create_system(actor=SYSTEM, slug="a", name="A", tier=3)
    events = AuditEvent.objects.count()
    path = write(tmp_path, text)
    with pytest.raises(CatalogImportError) as exc:
        import_catalog(path)
    assert exc.value.problems == [p.replace("stack.yml", str(path)) for p in expected]
    assert list(System.objects.all()) == [existing]
    existing.refresh_from_db()
    assert existing.tier == 3 and existing.source_keys == []
    assert AuditEvent.objects.count() == events


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "stack.yml"
    path.write_bytes(b"- title: A\n- title: caf\xe9\n")
    with pytest.raises(CatalogImportError) as exc:
        import_catalog(path)
    assert exc.value.problems == [f"{path}: line 2: not UTF-8 text; save the file as UTF-8"]


# --- the commands -----------------------------------------------------------------------------------------


def test_the_command_prints_a_summary_and_lists_entries_with_problems(small_file):
    PersonFactory(name="Ada Lovelace", handle="ada")
    code, out, err = run("import_catalog", str(small_file))
    assert code == 0, err
    assert f"{small_file}: 2 systems: 2 created, 0 updated, 0 unchanged." in out
    assert "Owners: 1 linked to people, 0 to teams, 2 cells left as text." in out
    assert "Provisioners: 0 linked to people, 0 to teams, 1 cells left as text." in out
    assert "Not mapped (kept as text): tiers 0, classifications 0, audiences 0, auth methods 0" in out
    assert "yes/no values 1" in out
    assert "Entries with problems: 2" in out
    assert (
        f"{small_file}: entry 1 (Gadget):\n  - team_member_baseline_entitlement: 'TBD' is not yes or no"
        in out
    )
    assert AuditEvent.objects.filter(source="import").count() == 2

    code, out, _ = run("import_catalog", str(small_file))
    assert "2 systems: 0 created, 0 updated, 2 unchanged." in out


def test_the_command_lists_the_first_entries_unless_verbose(tmp_path):
    path = write(tmp_path, "".join(f"- title: S{i}\n  critical_systems_tier: TBD\n" for i in range(12)))
    _, out, _ = run("import_catalog", str(path), "--dry-run")
    assert "dry run, nothing written; 12 systems would be: 12 created" in out
    assert out.count("is not a known tier") == 10 and "... and 2 more entries with problems" in out
    assert System.objects.count() == 0 and AuditEvent.objects.count() == 0
    _, out, _ = run("import_catalog", str(path), "--verbose")
    assert out.count("is not a known tier") == 12 and "more entries" not in out


def test_the_command_exits_1_listing_every_problem_and_writes_nothing(tmp_path):
    path = write(tmp_path, "- title: A\n- title: B\n  title: C\n- 3\n- notes: x\n")
    code, out, err = run("import_catalog", str(path))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{path}: entry 2 (C): line 3: key 'title' appears twice",
        f"{path}: entry 3: line 4: not a mapping of keys to values",
        f"{path}: 2 problems; nothing was imported.",
    ]
    assert System.objects.count() == 0 and AuditEvent.objects.count() == 0

    code, _, err = run("import_catalog", str(tmp_path / "missing.yml"))
    assert code == 1 and "missing.yml: cannot read the file: No such file or directory" in err


def test_the_export_command_writes_a_file_or_standard_output(small_file, tmp_path):
    import_catalog(small_file)
    target = tmp_path / "out.yml"
    code, out, _ = run("export_catalog", str(target))
    assert code == 0 and f"{target}: 2 systems written." in out
    assert yaml.safe_load(target.read_text()) == yaml.safe_load(small_file.read_text())
    code, out, _ = run("export_catalog", "-")
    assert yaml.safe_load(out) == yaml.safe_load(small_file.read_text())
    code, _, err = run("export_catalog", str(tmp_path / "no" / "such" / "dir.yml"))
    assert code == 1 and "cannot write the file" in err
