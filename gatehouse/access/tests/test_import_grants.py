"""gatehouse import_grants SYSTEM FILE: all or nothing, every problem by line and column, idempotent."""

import pytest
from django.core.management import call_command

from gatehouse.access.importers import GrantsImportError, import_grants, parse_granted_at
from gatehouse.access.models import Grant
from gatehouse.access.tests.factories import EntitlementFactory
from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.directory.tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    system = SystemFactory(slug="gitlab", name="GitLab")
    EntitlementFactory(system=system, slug="developers", name="Developers")
    EntitlementFactory(system=system, slug="owners", name="Owners")
    PersonFactory(email="ada@example.com")
    PersonFactory(email="bob@example.com")
    return system


def write(tmp_path, text, name="grants.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "email,entitlement,granted_at\nada@example.com,developers,2025-01-02\nBOB@example.com,Owners,2025-03-04T10:00:00Z\n"


def test_imports_and_reimport_writes_nothing(setup, tmp_path):
    path = write(tmp_path, GOOD)
    result = import_grants("gitlab", path)
    assert result.created == 2 and Grant.objects.filter(source="import").count() == 2
    assert AuditEvent.objects.filter(object_type="access.grant").count() == 2
    events = AuditEvent.objects.count()
    again = import_grants("gitlab", path)
    assert again.created == 0 and again.unchanged == 2 and AuditEvent.objects.count() == events


def test_every_problem_by_line_and_column_nothing_written(setup, tmp_path):
    path = write(
        tmp_path,
        "email,entitlement,granted_at\n"
        "ada@example.com,developers,2025-01-02\n"
        "nobody@example.com,developers,2025-01-02\n"
        "bob@example.com,wizards,2025-01-02\n"
        "bob@example.com,owners,yesterday\n"
        "ada@example.com,developers,2025-01-03\n",
    )
    with pytest.raises(GrantsImportError) as exc:
        import_grants("gitlab", path)
    text = [str(p) for p in exc.value.problems]
    assert text[0].startswith("grants.csv:3: email:")
    assert any(t.startswith("grants.csv:4: entitlement:") for t in text)
    assert any(t.startswith("grants.csv:5: granted_at:") for t in text)
    assert any(t.startswith("grants.csv:6: entitlement:") and "line 2" in t for t in text)
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("email,granted_at\n", "missing column"),
        ("email,entitlement,granted_at\na,b\n", "cells"),
    ],
)
def test_bad_files(setup, tmp_path, text, message):
    with pytest.raises(GrantsImportError) as exc:
        import_grants("gitlab", write(tmp_path, text))
    assert message in str(exc.value)


def test_unknown_system(setup, tmp_path):
    with pytest.raises(GrantsImportError, match="no system"):
        import_grants("nope", write(tmp_path, GOOD))


@pytest.mark.parametrize("value", ["2025-13-01", "2999-01-01", "1900-01-01", "", "01/02/2025"])
def test_bad_dates(value):
    with pytest.raises(ValueError):
        parse_granted_at(value)


def test_command_exits_1_and_writes_nothing(setup, tmp_path, capsys):
    path = write(tmp_path, "email,entitlement,granted_at\nnobody@example.com,developers,2025-01-02\n")
    with pytest.raises(SystemExit) as exc:
        call_command("import_grants", "gitlab", str(path))
    assert exc.value.code == 1
    assert "grants.csv:2: email:" in capsys.readouterr().err
    assert not Grant.objects.exists()


def test_command_imports_audited_as_cli(setup, tmp_path, capsys):
    call_command("import_grants", "gitlab", str(write(tmp_path, GOOD)))
    assert "2 grants created" in capsys.readouterr().out
    assert set(AuditEvent.objects.filter(object_type="access.grant").values_list("source", flat=True)) == {
        "cli"
    }


def test_leaver_still_holding_access_is_a_warning(setup, tmp_path):
    PersonFactory(email="gone@example.com", status="terminated")
    result = import_grants(
        "gitlab", write(tmp_path, "email,entitlement,granted_at\ngone@example.com,owners,2024-01-01\n")
    )
    assert result.created == 1 and "gone@example.com has left" in result.warnings[0]
