"""Factories for access tests. Shared by every part: add yours, keep the others'."""

import factory
from django.utils import timezone

from gatehouse.access.models import Entitlement, Grant
from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.directory.tests.factories import PersonFactory


class EntitlementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Entitlement

    system = factory.SubFactory(SystemFactory)
    slug = factory.Sequence(lambda n: f"entitlement-{n}")
    name = factory.Sequence(lambda n: f"Entitlement {n}")


class GrantFactory(factory.django.DjangoModelFactory):
    """A bare row, for selectors and pages; behaviour tests grant through the services."""

    class Meta:
        model = Grant

    person = factory.SubFactory(PersonFactory)
    entitlement = factory.SubFactory(EntitlementFactory)
    source = "import"
    started_at = factory.LazyFunction(timezone.now)


# --- access reviews (part D) ---
class ReviewTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "access.ReviewTemplate"
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"review-{n}")
    name = factory.Sequence(lambda n: f"Review {n}")
    scope = "all"
    reviewer = "system_owner"
    cadence_months = 3
    due_business_days = 10
    undecided_rule = "escalate"

    @factory.post_generation
    def systems(self, create, extracted, **kwargs):
        if create and extracted:
            self.systems.set(extracted)


# --- end part D ---


# --- part A: bundles
class BundleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "access.Bundle"
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"bundle-{n}")
    name = factory.Sequence(lambda n: f"Bundle {n}")

    @factory.post_generation
    def entitlements(self, create, extracted, **kwargs):
        if create and extracted:
            self.entitlements.set(extracted)


# --- end part A
