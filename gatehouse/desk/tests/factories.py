"""Factories for desk tests. Shared by every part of the desk: add yours, keep the others'."""

import factory

from gatehouse.desk.models import (
    BusinessCalendar,
    Guide,
    Queue,
    Request,
    RequestType,
    SlaPolicy,
    SlaTarget,
)
from gatehouse.directory.tests.factories import PersonFactory


class BusinessCalendarFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessCalendar
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"calendar-{n}")
    name = factory.Sequence(lambda n: f"Calendar {n}")
    time_zone = "UTC"


class SlaPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlaPolicy
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"policy-{n}")
    name = factory.Sequence(lambda n: f"Policy {n}")
    calendar = factory.SubFactory(BusinessCalendarFactory)


class SlaTargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlaTarget

    policy = factory.SubFactory(SlaPolicyFactory)
    priority = "normal"
    first_response_minutes = 60
    resolution_minutes = 8 * 60


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"queue-{n}")
    name = factory.Sequence(lambda n: f"Queue {n}")


class RequestTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RequestType
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"type-{n}")
    name = factory.Sequence(lambda n: f"Type {n}")


class RequestFactory(factory.django.DjangoModelFactory):
    """A bare row, for selectors and pages; behaviour tests file requests through services.file_request."""

    class Meta:
        model = Request

    request_type = factory.SubFactory(RequestTypeFactory)
    subject = factory.Sequence(lambda n: f"Request {n}")
    requester = factory.SubFactory(PersonFactory)
    queue = factory.SubFactory(QueueFactory)


class GuideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Guide
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"guide-{n}")
    title = factory.Sequence(lambda n: f"Guide {n}")
    body = "Steps.\n"
