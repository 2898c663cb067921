import pytest
from django.core.exceptions import PermissionDenied

from gatehouse.catalog import services as catalog
from gatehouse.catalog.models import ContactRole
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.core.permissions import SYSTEM, require
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

pytestmark = pytest.mark.django_db


def test_every_team_member_reads_the_directory_and_catalog(member_user):
    assert member_user.has_perm("directory.view_person")
    assert member_user.has_perm("catalog.view_system")
    assert not member_user.has_perm("directory.change_person")
    assert not member_user.has_perm("audit.view_auditevent")


def test_admin_changes_people_and_systems(admin_user):
    assert admin_user.has_perm("directory.change_person")
    assert admin_user.has_perm("catalog.delete_system")


def test_auditor_reads_everything_and_changes_nothing_even_as_superuser(make_user):
    auditor = make_user("auditor", "admin", is_superuser=True)
    system = SystemFactory()
    assert auditor.has_perm("audit.view_auditevent")
    assert auditor.has_perm("catalog.view_system")
    assert not auditor.has_perm("catalog.change_system")
    assert not auditor.has_perm("catalog.change_system", system)
    with pytest.raises(PermissionDenied):
        catalog.update_system(system, actor=auditor, name="Renamed")


@pytest.mark.parametrize("role", [ContactRole.BUSINESS_OWNER, ContactRole.TECHNICAL_OWNER])
def test_a_system_owner_changes_only_their_own_systems(make_user, role):
    owner = PersonFactory()
    user = make_user(person=owner)
    mine, other = SystemFactory(), SystemFactory()
    add_contact(mine, role, person=owner)
    assert user.has_perm("catalog.change_system", mine)
    assert not user.has_perm("catalog.change_system", other)
    assert not user.has_perm("catalog.change_system")
    catalog.update_system(mine, actor=user, description="Ours")
    with pytest.raises(PermissionDenied):
        catalog.update_system(other, actor=user, description="Not ours")


def test_owner_team_members_own_the_system(make_user):
    person = PersonFactory()
    team = TeamFactory(members=[person])
    system = SystemFactory(owner_team=team)
    assert make_user(person=person).has_perm("catalog.change_system", system)


def test_a_provisioner_is_not_an_owner(make_user):
    person = PersonFactory()
    system = SystemFactory()
    add_contact(system, ContactRole.PROVISIONER, person=person)
    assert not make_user(person=person).has_perm("catalog.change_system", system)


def test_expired_access_loses_every_permission(make_user):
    from django.utils import timezone

    user = make_user("auditor", access_expires_at=timezone.now() - timezone.timedelta(minutes=1))
    assert not user.has_perm("catalog.view_system")


def test_require_names_the_action(member_user):
    with pytest.raises(PermissionDenied, match="change this person"):
        require(member_user, "directory.change_person")
    require(SYSTEM, "directory.change_person")
