"""The OS release catalog import: the command, all or nothing, audited."""

import pytest
from django.core.management import call_command

from gatehouse.audit.models import AuditEvent
from gatehouse.endpoints.models import OsRelease

pytestmark = pytest.mark.django_db


def write(tmp_path, text):
    path = tmp_path / "releases.csv"
    path.write_text(text)
    return path


def test_import_adds_and_updates(tmp_path, capsys):
    OsRelease.objects.filter(platform="macos", version="15.2").update(line="wrong")
    path = write(
        tmp_path,
        "platform,line,version,released_on\nmacos,macOS 27,27.0,2026-09-14\nmacos,macOS 15,15.2,2024-12-11\n",
    )
    before = AuditEvent.objects.count()
    call_command("import_os_releases", str(path))
    assert "1 releases added, 1 changed, 0 unchanged" in capsys.readouterr().out
    assert OsRelease.objects.get(version="27.0").line == "macOS 27"
    assert OsRelease.objects.get(platform="macos", version="15.2").line == "macOS 15"
    assert AuditEvent.objects.count() == before + 2
    call_command("import_os_releases", str(path))
    assert "0 releases added, 0 changed, 2 unchanged" in capsys.readouterr().out


@pytest.mark.parametrize(
    "body, words",
    [
        (
            "platform,line,version,released_on\nmacos,macOS 27,27.0,2026-09-14\nbeos,x,1,2020-01-01\n",
            "row 2, platform",
        ),
        ("platform,line,version,released_on\nmacos,macOS 27,27.0,14/09/2026\n", "row 1, released_on"),
        ("platform,line,version\nmacos,macOS 27,27.0\n", "released_on: column missing"),
        ("platform,line,version,released_on\nmacos,,27.0,2026-09-14\n", "row 1, line"),
    ],
)
def test_bad_rows_write_nothing_and_exit_1(tmp_path, capsys, body, words):
    count = OsRelease.objects.count()
    with pytest.raises(SystemExit) as exit_:
        call_command("import_os_releases", str(write(tmp_path, body)))
    assert exit_.value.code == 1
    assert words in capsys.readouterr().err
    assert OsRelease.objects.count() == count
