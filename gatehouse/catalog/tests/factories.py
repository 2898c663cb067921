import factory

from gatehouse.catalog.models import ContactRole, System, SystemContact


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = System
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"System {n}")
    slug = factory.Sequence(lambda n: f"system-{n}")
    label = factory.LazyAttribute(lambda o: f"corpsys::{o.slug}")
    tier = 3
    effective_tier = 3
    data_classification = "yellow"


def add_contact(
    system: System, role: str = ContactRole.BUSINESS_OWNER, person=None, team=None
) -> SystemContact:
    position = system.contacts.filter(role=role).count()
    return SystemContact.objects.create(system=system, role=role, person=person, team=team, position=position)
