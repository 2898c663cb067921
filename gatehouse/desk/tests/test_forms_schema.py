"""A request type's form as data, and the answers to it."""

import pytest
from django.core.exceptions import ValidationError

from gatehouse.desk.forms_schema import clean_answers, validate_form_schema
from gatehouse.desk.models import RequestType

SCHEMA = [
    {"name": "env", "label": "Environment", "type": "choice", "required": True, "choices": ["Prod", "Dev"]},
    {"name": "tags", "type": "multichoice", "choices": ["a", "b"]},
    {"name": "ok", "type": "boolean"},
    {"name": "when", "type": "date"},
    {"name": "mail", "type": "email"},
    {"name": "notes", "type": "textarea"},
]


def test_clean_answers_normalises():
    cleaned = clean_answers(
        SCHEMA, {"env": "Prod", "tags": "a", "ok": "yes", "when": "2026-12-01", "mail": " A@B.CO "}
    )
    assert cleaned == {"env": "Prod", "tags": ["a"], "ok": True, "when": "2026-12-01", "mail": "a@b.co"}
    assert clean_answers(SCHEMA, {"env": "Dev", "ok": False}) == {"env": "Dev", "ok": False}


def test_errors_are_keyed_by_field():
    with pytest.raises(ValidationError) as exc:
        clean_answers(
            SCHEMA, {"tags": ["c"], "ok": "maybe", "when": "2026-13-45", "mail": "x", "notes": 5, "zzz": 1}
        )
    errors = exc.value.message_dict
    assert set(errors) == {
        "fields.env",
        "fields.tags",
        "fields.ok",
        "fields.when",
        "fields.mail",
        "fields.notes",
        "fields.zzz",
    }
    assert "required" in errors["fields.env"][0]
    with pytest.raises(ValidationError) as exc:
        clean_answers(SCHEMA, ["not", "a", "dict"])
    assert "fields" in exc.value.message_dict


@pytest.mark.django_db
def test_person_field_must_exist():
    with pytest.raises(ValidationError) as exc:
        clean_answers([{"name": "who", "type": "person"}], {"who": "ghost@example.com"})
    assert "No person" in exc.value.message_dict["fields.who"][0]


@pytest.mark.parametrize(
    "schema, key",
    [
        ({}, "form_schema"),
        ([{"name": "Bad Name"}], "form_schema.0.name"),
        ([{"name": "a"}, {"name": "a"}], "form_schema.1.name"),
        ([{"name": "a", "type": "file"}], "form_schema.0.type"),
        ([{"name": "a", "type": "choice"}], "form_schema.0.choices"),
        ([{"name": "a", "type": "choice", "choices": ["x", "x"]}], "form_schema.0.choices"),
        ([{"name": "a", "type": "text", "choices": ["x"]}], "form_schema.0.choices"),
        ([{"name": "a", "required": "yes"}], "form_schema.0.required"),
        ([{"name": "a", "colour": "red"}], "form_schema.0"),
        (["a"], "form_schema.0"),
    ],
)
def test_invalid_schema(schema, key):
    with pytest.raises(ValidationError) as exc:
        validate_form_schema(schema)
    assert key in exc.value.message_dict


@pytest.mark.django_db
def test_shipped_types_have_valid_forms():
    types = RequestType.objects.all()
    assert {t.slug for t in types} >= {
        "access-request",
        "access-change",
        "account-lockout",
        "laptop-or-hardware",
        "configuration-change",
        "security-question",
        "suspicious-activity",
    }  # the desk's seven; other modules seed their own (endpoint-remediation)
    for request_type in types:
        validate_form_schema(request_type.form_schema)
        assert request_type.sla_policy.slug == "default"
