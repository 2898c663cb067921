import datetime
import io
import json
import textwrap
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from gatehouse.audit.models import AuditEvent
from gatehouse.directory.importers import (
    BadValue,
    PeopleImportError,
    import_people,
    parse_date,
    parse_employment_type,
    parse_time_zone,
)
from gatehouse.directory.models import Person
from gatehouse.directory.tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

HEADER = "email,name,manager_email,department,title,employment_type,time_zone,start_date,end_date\n"
BAMBOO = "samples/hris/graph-bamboohr_recorded_reports_custom_employees.json"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run(path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_people", str(path), *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def problems_of(path: Path) -> list[str]:
    with pytest.raises(PeopleImportError) as exc:
        import_people(path)
    return [str(problem) for problem in exc.value.problems]


# --- importing --------------------------------------------------------------------------------------------


def test_a_csv_creates_people_with_every_field_and_managers_in_any_order(tmp_path):
    path = write(
        tmp_path,
        "people.csv",
        """
        Email , Name,manager_email,department,division,title,employment_type,location,time_zone,start_date,end_date,handle,hris_id,idp_id
        ada@example.com,Ada Lovelace,GRACE@example.com,Engineering,R&D,Engineer,Full-Time,London,europe/london,2020-01-06,,@ada,17,00u1
        grace@example.com,Grace Hopper,,Engineering,R&D,CTO,employee,NYC,America/New_York,2019-03-01,0000-00-00,grace,3,00u2
        alan@example.com,Alan Turing,ada@example.com,Security,R&D,Contractor,Contractor,Remote,UTC,1999-01-01,2000-01-01,,,
        """,
    )
    code, out, err = run(path)
    assert code == 0, err
    assert "3 created, 0 updated, 0 unchanged" in out
    ada = Person.objects.get(email="ada@example.com")
    grace = Person.objects.get(email="grace@example.com")
    alan = Person.objects.get(email="alan@example.com")
    assert ada.manager == grace and alan.manager == ada and grace.manager is None
    assert ada.time_zone == "Europe/London"  # stored as the zone database spells it
    assert ada.handle == "ada" and ada.hris_id == "17" and ada.idp_id == "00u1" and ada.division == "R&D"
    assert ada.start_date == datetime.date(2020, 1, 6) and ada.end_date is None and ada.status == "active"
    assert alan.employment_type == "contractor" and alan.status == "terminated"
    assert grace.end_date is None
    events = AuditEvent.objects.filter(object_type="directory.person")
    assert events.count() == 3  # one create each, manager included: managers are written first
    assert {e.source for e in events} == {"import"}
    assert {e.action for e in events} == {"create"}
    assert events.get(object_id=str(ada.pk)).changes["manager_id"] == [None, grace.pk]


def test_a_future_end_date_means_leaving(tmp_path):
    ahead = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()
    path = write(tmp_path, "people.csv", f"email,name,end_date\nleo@example.com,Leo,{ahead}\n")
    import_people(path)
    assert Person.objects.get(email="leo@example.com").status == "leaving"


def test_a_manager_already_in_the_directory_is_found(tmp_path):
    boss = PersonFactory(email="boss@example.com")
    path = write(tmp_path, "people.csv", "email,name,manager_email\nnew@example.com,New,Boss@Example.com\n")
    result = import_people(path)
    assert result.created == 1
    assert Person.objects.get(email="new@example.com").manager == boss


def test_reimporting_the_same_file_changes_nothing_and_writes_no_event(tmp_path):
    path = write(
        tmp_path,
        "people.csv",
        HEADER
        + "b@example.com,B,a@example.com,Eng,Dev,Part-Time,Europe/Paris,2000-01-01,2001-01-01\n"
        + "a@example.com,A,,Eng,Lead,,,2019-01-01,\n",
    )
    import_people(path)
    events = AuditEvent.objects.count()
    code, out, _ = run(path)
    assert code == 0
    assert "0 created, 0 updated, 2 unchanged" in out
    assert AuditEvent.objects.count() == events


def test_the_import_reads_the_directory_once_not_per_row(tmp_path):
    rows = "".join(f"p{i}@example.com,P {i},p{i - 1}@example.com\n" for i in range(1, 200))
    path = write(tmp_path, "people.csv", "email,name,manager_email\np0@example.com,P 0,\n" + rows)
    import_people(path)
    with CaptureQueriesContext(connection) as queries:
        result = import_people(path)
    assert result.unchanged == 200
    # Savepoints come from each service call's own transaction; everything else is the one read.
    reads = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(reads) == 1 and reads[0].startswith("SELECT")


def test_changes_update_matched_people_by_email_with_field_level_events(tmp_path):
    old_boss = PersonFactory(email="old@example.com")
    new_boss = PersonFactory(email="new.boss@example.com")
    ada = PersonFactory(email="ada@example.com", name="Ada", title="Engineer", manager=old_boss, hris_id="9")
    bystander = PersonFactory(email="bystander@example.com", title="Untouched")
    path = write(
        tmp_path,
        "people.csv",
        "email,name,title,manager_email\nADA@example.com,Ada,Staff engineer,new.boss@example.com\n",
    )
    result = import_people(path)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    ada.refresh_from_db()
    assert ada.title == "Staff engineer" and ada.manager == new_boss
    assert ada.hris_id == "9"  # a column the file does not have is left alone
    event = AuditEvent.objects.get(object_type="directory.person", object_id=str(ada.pk))
    assert event.action == "update"
    assert event.changes == {
        "manager_id": [old_boss.pk, new_boss.pk],
        "title": ["Engineer", "Staff engineer"],
    }
    bystander.refresh_from_db()
    assert bystander.title == "Untouched"  # people not in the file are left alone


def test_an_empty_cell_clears_and_a_new_end_date_changes_the_status(tmp_path):
    boss = PersonFactory(email="boss@example.com")
    PersonFactory(email="ada@example.com", name="Ada", manager=boss, department="Eng")
    path = write(
        tmp_path,
        "people.csv",
        "email,name,manager_email,department,end_date\nada@example.com,Ada,,,2001-02-03\n",
    )
    import_people(path)
    ada = Person.objects.get(email="ada@example.com")
    assert ada.manager is None and ada.department == "" and ada.status == "terminated"


def test_managers_can_be_moved_in_any_order_without_a_false_cycle(tmp_path):
    # Today b reports to a; the file turns it round. Applied in file order, a → b would meet b → a first.
    a = PersonFactory(email="a@example.com")
    PersonFactory(email="b@example.com", manager=a)
    path = write(
        tmp_path, "people.csv", "email,name,manager_email\na@example.com,A,b@example.com\nb@example.com,B,\n"
    )
    assert import_people(path).updated == 2
    assert Person.objects.get(email="a@example.com").manager.email == "b@example.com"
    assert Person.objects.get(email="b@example.com").manager is None


def test_first_and_last_name_make_the_name_and_aliases_are_read(tmp_path):
    path = write(
        tmp_path,
        "people.csv",
        "workEmail,First Name,last_name,jobTitle,hireDate,terminationDate,employeeNumber,supervisorEmail,Shoe size\n"
        "ada@example.com,Ada,Lovelace,Engineer,2020-01-01,0000-00-00,42,,44\n",
    )
    code, _, err = run(path)
    assert code == 0, err
    ada = Person.objects.get(email="ada@example.com")
    assert (ada.name, ada.title, ada.hris_id, ada.start_date) == (
        "Ada Lovelace",
        "Engineer",
        "42",
        datetime.date(2020, 1, 1),
    )
    assert "warning:" in err and "Shoe size" in err


def test_json_list_and_employees_object_are_read(tmp_path):
    people = [
        {"email": "b@example.com", "name": "B", "manager_email": "a@example.com", "hris_id": 7},
        {"email": "a@example.com", "name": "A", "end_date": None},
    ]
    import_people(write(tmp_path, "list.json", json.dumps(people)))
    assert Person.objects.get(email="b@example.com").manager.email == "a@example.com"
    assert Person.objects.get(email="b@example.com").hris_id == "7"
    bamboo = {
        "title": "report",
        "employees": [{"workEmail": "c@example.com", "displayName": "C", "status": "Active"}],
    }
    result = import_people(write(tmp_path, "bamboo.json", json.dumps(bamboo)))
    assert result.created == 1
    assert any("status" in warning for warning in result.warnings)


def test_dry_run_counts_but_writes_nothing(tmp_path):
    path = write(tmp_path, "people.csv", "email,name\na@example.com,A\nb@example.com,B\n")
    code, out, _ = run(path, "--dry-run")
    assert code == 0
    assert "dry run" in out and "2 created" in out
    assert Person.objects.count() == 0 and AuditEvent.objects.count() == 0


# --- bad rows ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("not-an-email,X,\n", ":2: email: invalid email 'not-an-email'"),
        (",X,\n", ":2: email: required"),
        ("x@example.com,,\n", ":2: name: required"),
        ("x@example.com,X,nobody@example.com\n", ":2: manager_email: unknown manager 'nobody@example.com'"),
        ("x@example.com,X,x@example.com\n", ":2: manager_email: 'x@example.com' cannot be their own manager"),
        ("x@example.com,X,,2021-02-30\n", ":2: start_date: '2021-02-30' is not a real date"),
        ("x@example.com,X,,03/02/2021\n", ":2: start_date: '03/02/2021' is not a date (expected YYYY-MM-DD)"),
        (
            "x@example.com,X,,2021-02-03,2021-02-01\n",
            ":2: end_date: end date 2021-02-01 is before the start date 2021-02-03",
        ),
        ("x@example.com,X,,,,Wizard\n", ":2: employment_type: unknown employment type 'Wizard'"),
        ("x@example.com,X,,,,,Mars/Olympus\n", ":2: time_zone: unknown time zone 'Mars/Olympus'"),
        ("x@example.com,X,,,,,,,\n", ":2: has 9 cells but the header has 7"),
    ],
)
def test_each_bad_row_is_named_by_line_and_column_and_nothing_is_written(tmp_path, rows, expected):
    path = write(
        tmp_path,
        "people.csv",
        "email,name,manager_email,start_date,end_date,employment_type,time_zone\n" + rows,
    )
    code, _, err = run(path)
    assert code == 1
    assert f"{path}{expected}" in err.splitlines()[0]
    assert "nothing was imported" in err
    assert Person.objects.count() == 0 and AuditEvent.objects.count() == 0


def test_every_problem_is_listed_at_once_with_physical_line_numbers(tmp_path):
    path = write(
        tmp_path,
        "people.csv",
        """
        email,name,manager_email,title
        a@example.com,A,,"two
        line title"
        a@example.com,A again,,

        bad,B,,
        c@example.com,C,ghost@example.com,
        """,
    )
    problems = problems_of(path)
    assert problems == [
        f"{path}:4: email: duplicate email 'a@example.com', also at line 2",
        f"{path}:6: email: invalid email 'bad'",
        f"{path}:7: manager_email: unknown manager 'ghost@example.com'",
    ]


def test_a_manager_cycle_names_everyone_in_it(tmp_path):
    path = write(
        tmp_path,
        "people.csv",
        "email,name,manager_email\na@example.com,A,b@example.com\nb@example.com,B,c@example.com\nc@example.com,C,a@example.com\n",
    )
    problems = problems_of(path)
    assert problems == [
        f"{path}:2: manager_email: reporting cycle: a@example.com → b@example.com → c@example.com → a@example.com",
        f"{path}:3: manager_email: reporting cycle: b@example.com → c@example.com → a@example.com → b@example.com",
        f"{path}:4: manager_email: reporting cycle: c@example.com → a@example.com → b@example.com → c@example.com",
    ]


def test_a_cycle_through_someone_already_in_the_directory_is_refused(tmp_path):
    top = PersonFactory(email="top@example.com")
    PersonFactory(email="mid@example.com", manager=top)
    path = write(tmp_path, "people.csv", "email,name,manager_email\ntop@example.com,Top,mid@example.com\n")
    assert problems_of(path) == [
        f"{path}:2: manager_email: reporting cycle: top@example.com → mid@example.com → top@example.com"
    ]
    assert Person.objects.get(email="top@example.com").manager is None


def test_json_problems_name_the_record_and_field(tmp_path):
    people = [
        {"workEmail": "a@example.com", "displayName": "A", "hireDate": "2020-13-01"},
        {"workEmail": "a@example.com", "displayName": "A2"},
        "not an object",
        {"workEmail": ["x"], "displayName": "D"},
    ]
    path = write(tmp_path, "people.json", json.dumps(people))
    assert problems_of(path) == [
        f"{path}: record 1: hireDate: '2020-13-01' is not a real date",
        f"{path}: record 2: workEmail: duplicate email 'a@example.com', also at record 1",
        f"{path}: record 3: expected an object",
        f'{path}: record 4: workEmail: expected text, got ["x"]',
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("people.csv", b"", ": the file is empty"),
        ("people.csv", b"  \n\n", ": the file is empty"),
        ("people.csv", b"email,name\n", ": the file holds no people"),
        ("people.json", b"[]", ": the file holds no people"),
        ("people.csv", b"email,name\nb\xe9a@example.com,B\n", ":2: not UTF-8 text (byte 0xe9)"),
        ("people.csv", b"mail_address,name\nx@example.com,X\n", ":1: no email column"),
        ("people.csv", b"email,title\nx@example.com,X\n", ":1: no name column"),
        ("people.csv", b"email,workEmail,name\na,b,c\n", ":1: workEmail: means the same as column 'email'"),
        (
            "people.json",
            b'[\n  {"email": "a@example.com",\n   "name": }\n]',
            ":3:12: invalid JSON: Expecting value",
        ),
        (
            "people.json",
            b'{"people": []}',
            ': expected a list of people, or an object with an "employees" list',
        ),
        ("people.xlsx", b"PK", ": unknown file type (expected a .csv or .json file)"),
    ],
)
def test_unreadable_files_are_refused(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    code, _, err = run(path)
    assert code == 1
    assert f"{path}{expected}" in err


def test_a_missing_file_is_refused(tmp_path):
    code, _, err = run(tmp_path / "absent.csv")
    assert code == 1
    assert "cannot read the file" in err


def test_byte_order_marks_semicolons_and_tabs_are_read(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes("\ufeffemail;name\nzoe@example.com;Zoë\n".encode())
    import_people(path)
    assert Person.objects.get(email="zoe@example.com").name == "Zoë"
    path.write_bytes("email\tname\nyan@example.com\tYan 燕\n".encode("utf-16"))  # Excel's "Unicode text"
    import_people(path)
    assert Person.objects.get(email="yan@example.com").name == "Yan 燕"


def test_the_bamboohr_sample_is_refused_for_its_redacted_duplicate_emails(shared_data):
    path = shared_data / BAMBOO
    code, _, err = run(path)
    assert code == 1
    lines = err.splitlines()
    assert f"{path}: record 2: workEmail: duplicate email 'redacted@email.com', also at record 1" in lines
    duplicates = [line for line in lines if "duplicate email" in line]
    assert len(duplicates) == len(json.loads(path.read_text())["employees"]) - 2  # the first, and one without
    assert Person.objects.count() == 0 and AuditEvent.objects.count() == 0


# --- value parsers ----------------------------------------------------------------------------------------


@given(st.dates())
def test_iso_dates_round_trip(date):
    assert parse_date(date.isoformat()) == date
    assert parse_date(f"  {date.isoformat()} ") == date


@given(st.text(max_size=30))
def test_any_text_is_a_date_none_or_a_bad_value(text):
    try:
        result = parse_date(text)
    except BadValue as exc:
        assert str(exc)
    else:
        assert result is None or isinstance(result, datetime.date)


def test_no_date_spellings():
    assert parse_date("") is None
    assert parse_date("0000-00-00") is None
    with pytest.raises(BadValue):
        parse_date("2021-1-5")
    with pytest.raises(BadValue):
        parse_date("\u0662\u0660\u0662\u0661-\u0660\u0661-\u0660\u0661")  # Arabic-Indic digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Full-Time", "employee"),
        ("part time", "employee"),
        ("Intern", "employee"),
        ("Contractor", "contractor"),
        ("Temporary Service Provider", "temporary"),
        ("temporary", "temporary"),
        ("Terminated", None),
        ("", None),
    ],
)
def test_employment_type_spellings(text, expected):
    assert parse_employment_type(text) == expected


@given(st.text(max_size=40))
def test_time_zones_are_known_names_or_refused(text):
    try:
        zone = parse_time_zone(text)
    except BadValue:
        return
    assert zone == "" or zone.lower() == text.strip().lower()


def test_a_row_with_several_problems_gets_them_all(tmp_path):
    path = write(
        tmp_path,
        "people.csv",
        "email,name,manager_email,time_zone,employment_type\ncarol@example.com,,x@y.com,Mars/Olympus,Wizard\n",
    )
    problems = problems_of(path)
    assert len(problems) == 4
    assert {p.split(": ")[1] for p in problems} == {"name", "manager_email", "time_zone", "employment_type"}
