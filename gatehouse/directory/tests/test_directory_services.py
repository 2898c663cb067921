import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from hypothesis import given
from hypothesis import strategies as st

from gatehouse.audit.models import AuditEvent
from gatehouse.core import context
from gatehouse.core.context import Source
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory import services as directory
from gatehouse.directory.models import Person, PersonStatus, Team, status_from_dates
from gatehouse.directory.tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 15)


def events(object_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type=object_type).order_by("id"))


# --- people -----------------------------------------------------------------------------------------------


def test_creating_a_person_is_audited_with_every_field_set(admin_user):
    boss = PersonFactory()
    with context.change_context(source=Source.WEB, actor=admin_user, request_id="r-1"):
        person = directory.create_person(
            actor=admin_user,
            email=" Ada@Example.COM ",
            name="Ada",
            manager=boss,
            start_date=datetime.date(2020, 1, 6),
        )
    assert person.email == "ada@example.com" and person.status == PersonStatus.ACTIVE
    (event,) = events("directory.person")
    assert event.action == "create" and event.source == "web" and event.actor == admin_user
    assert event.request_id == "r-1"
    assert event.changes["email"] == [None, "ada@example.com"]
    assert event.changes["manager_id"] == [None, boss.pk]
    assert event.changes["start_date"] == [None, "2020-01-06"]
    assert "handle" not in event.changes  # empty values are not news


def test_updating_a_person_records_only_what_changed():
    person = directory.create_person(actor=SYSTEM, email="a@example.com", name="A", title="Engineer")
    directory.update_person(person, actor=SYSTEM, name="A", title="Lead", department="Security")
    update = events("directory.person")[-1]
    assert update.action == "update"
    assert update.changes == {"title": ["Engineer", "Lead"], "department": ["", "Security"]}
    assert Person.objects.get(pk=person.pk).title == "Lead"


def test_a_no_op_update_writes_nothing():
    person = directory.create_person(actor=SYSTEM, email="a@example.com", name="A", title="Engineer")
    stamp = Person.objects.get(pk=person.pk).last_updated
    count = AuditEvent.objects.count()
    directory.update_person(person, actor=SYSTEM, name="A", title="Engineer", end_date=None)
    assert AuditEvent.objects.count() == count
    assert Person.objects.get(pk=person.pk).last_updated == stamp


def test_deleting_a_person_records_what_they_held():
    person = directory.create_person(actor=SYSTEM, email="a@example.com", name="A")
    pk = person.pk
    directory.delete_person(person, actor=SYSTEM)
    assert not Person.objects.filter(pk=pk).exists()
    deleted = events("directory.person")[-1]
    assert deleted.action == "delete" and deleted.object_id == str(pk)
    assert deleted.changes["email"] == ["a@example.com", None]


def test_people_without_the_right_cannot_write(member_user):
    person = PersonFactory()
    with pytest.raises(PermissionDenied):
        directory.create_person(actor=member_user, email="x@example.com", name="X")
    with pytest.raises(PermissionDenied):
        directory.update_person(person, actor=member_user, title="Boss")
    with pytest.raises(PermissionDenied):
        directory.delete_person(person, actor=member_user)
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_a_manager_cycle_is_refused_and_nothing_written(depth):
    top = PersonFactory()
    chain = [top]
    for _ in range(depth):
        chain.append(PersonFactory(manager=chain[-1]))
    count = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        directory.update_person(top, actor=SYSTEM, manager=chain[-1])  # depth 0: their own manager
    assert "manager" in exc.value.message_dict
    assert AuditEvent.objects.count() == count
    assert Person.objects.get(pk=top.pk).manager is None


def test_an_invalid_person_is_refused_by_field():
    with pytest.raises(ValidationError) as exc:
        directory.create_person(actor=SYSTEM, email="not an email", name="X")
    assert "email" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        directory.create_person(actor=SYSTEM, email="x@example.com", name="X", employment_type="wizard")
    assert "employment_type" in exc.value.message_dict
    assert Person.objects.count() == 0 and AuditEvent.objects.count() == 0


def test_the_status_follows_the_end_date():
    person = directory.create_person(
        actor=SYSTEM, email="a@example.com", name="A", end_date=datetime.date(2000, 1, 1)
    )
    assert person.status == PersonStatus.TERMINATED
    directory.update_person(person, actor=SYSTEM, end_date=None)
    assert Person.objects.get(pk=person.pk).status == PersonStatus.ACTIVE
    assert events("directory.person")[-1].changes == {
        "end_date": ["2000-01-01", None],
        "status": ["terminated", "active"],
    }


def test_upsert_says_what_happened():
    person, outcome = directory.upsert_person(None, actor=SYSTEM, email="a@example.com", name="A")
    assert outcome == "created"
    assert directory.upsert_person(person, actor=SYSTEM, name="A")[1] == "unchanged"
    assert directory.upsert_person(person, actor=SYSTEM, name="B")[1] == "updated"
    assert [e.action for e in events("directory.person")] == ["create", "update"]


def test_refresh_statuses_moves_people_whose_end_date_came():
    leaving = PersonFactory(end_date=datetime.date(2026, 6, 20), status=PersonStatus.LEAVING)
    staying = PersonFactory()
    assert directory.refresh_statuses(today=datetime.date(2026, 6, 21)) == 1
    assert Person.objects.get(pk=leaving.pk).status == PersonStatus.TERMINATED
    assert Person.objects.get(pk=staying.pk).status == PersonStatus.ACTIVE
    assert directory.refresh_statuses(today=datetime.date(2026, 6, 21)) == 0


# --- teams ------------------------------------------------------------------------------------------------


def test_team_create_update_delete_are_audited():
    a, b = PersonFactory(), PersonFactory()
    team = directory.create_team(actor=SYSTEM, name="IT Helpdesk", chat_handle="@it-help", members=[a])
    assert team.slug == "it-helpdesk"
    directory.update_team(team, actor=SYSTEM, description="Laptops", members=[a, b])
    pk = team.pk
    directory.delete_team(team, actor=SYSTEM)
    created, updated, deleted = events("directory.team")
    assert created.action == "create"
    assert created.changes["name"] == [None, "IT Helpdesk"] and created.changes["members"] == [None, [a.pk]]
    assert updated.changes == {"description": ["", "Laptops"], "members": [[a.pk], sorted([a.pk, b.pk])]}
    assert deleted.action == "delete" and deleted.object_id == str(pk)
    assert not Team.objects.filter(pk=pk).exists()


def test_a_no_op_team_update_writes_nothing():
    a = PersonFactory()
    team = directory.create_team(actor=SYSTEM, name="Ops", members=[a])
    count = AuditEvent.objects.count()
    directory.update_team(team, actor=SYSTEM, name="Ops", members=[a])
    assert AuditEvent.objects.count() == count


def test_unknown_team_fields_are_named():
    with pytest.raises(ValidationError) as exc:
        directory.create_team(actor=SYSTEM, name="Ops", colour="red")
    assert "colour" in exc.value.message_dict


# --- status from dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end_date", "status"),
    [
        (None, "active"),
        (datetime.date(2026, 6, 14), "terminated"),
        (datetime.date(2026, 6, 15), "leaving"),  # the last day is still a working day
        (datetime.date(2026, 6, 16), "leaving"),
    ],
)
def test_status_from_dates(end_date, status):
    assert status_from_dates(end_date, TODAY) == status


@given(st.dates(), st.dates())
def test_status_from_dates_is_terminated_exactly_when_the_end_date_has_passed(end_date, today):
    status = status_from_dates(end_date, today)
    assert status == (PersonStatus.TERMINATED if end_date < today else PersonStatus.LEAVING)


@given(st.one_of(st.none(), st.dates()))
def test_status_from_dates_is_always_a_known_status(end_date):
    assert status_from_dates(end_date) in PersonStatus.values
