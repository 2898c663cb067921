"""Forms of the desk's pages. They validate input and never save: views hand cleaned values to desk.services.

The new-request form is built from the request type's form_schema (gatehouse.desk.forms_schema): each answer
becomes a field named ``f_<name>`` (so an answer can never collide with subject or system), and the service
checks the answers again; its errors (keyed ``fields.<name>``) land beside the same field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from gatehouse.core.forms import DATE_INPUT, split_keys
from gatehouse.desk.forms_schema import field_label
from gatehouse.desk.models import Priority, Queue, RequestType, Status
from gatehouse.directory.models import Person

ANSWER_PREFIX = "f_"
MAX_UPLOADS = 10


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; each is checked by the service (size limit, type allow-list)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if len(files) > MAX_UPLOADS:
            raise ValidationError(f"Attach at most {MAX_UPLOADS} files at a time.")
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


def answer_field(spec: Mapping[str, Any]) -> forms.Field:
    """A Django form field for one entry of a form_schema."""
    kind = spec.get("type", "text")
    common = {
        "label": field_label(spec),
        "required": bool(spec.get("required")),
        "help_text": spec.get("help_text", ""),
    }
    choices = [(c, c) for c in spec.get("choices") or []]
    if kind == "textarea":
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=20_000, **common)
    if kind == "choice":
        return forms.ChoiceField(choices=[("", "—"), *choices], **common)
    if kind == "multichoice":
        return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)
    if kind == "boolean":
        return forms.BooleanField(**common)
    if kind == "date":
        return forms.DateField(widget=DATE_INPUT, **common)
    if kind == "email":
        return forms.EmailField(**common)
    if kind == "person":
        field = forms.EmailField(**common)
        field.widget.attrs["list"] = "people-emails"
        if not common["help_text"]:
            field.help_text = "Their work email address."
        return field
    return forms.CharField(max_length=500, **common)


class NewRequestForm(forms.Form):
    """Subject, description, the system (as the type asks), the type's own fields and attachments."""

    subject = forms.CharField(max_length=250, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False, max_length=50_000)
    system = forms.CharField(required=False, label="System")
    watchers = forms.CharField(
        required=False,
        label="Also keep informed",
        help_text="Email addresses of people to keep informed, separated by commas.",
    )
    attachments = MultipleFileField(label="Attachments")

    def __init__(self, request_type: RequestType, systems, data=None, files=None, **kwargs: Any):
        super().__init__(data, files, **kwargs)
        self.request_type = request_type
        self.systems = {s.slug: s for s in systems}
        system = self.fields["system"]
        mode = request_type.system_field
        if mode == RequestType.SystemField.HIDDEN:
            del self.fields["system"]
        else:
            system.required = mode == RequestType.SystemField.REQUIRED
            system.widget = forms.Select(
                choices=[("", "— no particular system —" if not system.required else "— choose —")]
                + [(s.slug, s.name) for s in self.systems.values()]
            )
            system.help_text = "The system this is about: it goes straight to the system's owners."
        self.answer_names: list[str] = []
        for spec in request_type.form_schema or []:
            name = ANSWER_PREFIX + spec["name"]
            self.fields[name] = answer_field(spec)
            self.answer_names.append(name)

    @classmethod
    def initial_from_query(cls, request_type: RequestType, params: Mapping[str, Any]) -> dict[str, Any]:
        """Prefill from the address: ?system=<slug>&subject=...&description=... and ?<field name>=... answers."""
        initial: dict[str, Any] = {}
        for key in ("subject", "description", "system", "watchers"):
            if params.get(key):
                initial[key] = params.get(key)
        for spec in request_type.form_schema or []:
            name = spec["name"]
            for key in (name, ANSWER_PREFIX + name):
                if key in params:
                    initial[ANSWER_PREFIX + name] = (
                        params.getlist(key)
                        if spec.get("type") == "multichoice" and hasattr(params, "getlist")
                        else params.get(key)
                    )
        return initial

    def clean_system(self):
        slug = (self.cleaned_data.get("system") or "").strip()
        if not slug:
            return None
        if slug not in self.systems:
            raise ValidationError(f"Unknown system {slug!r}.")
        return self.systems[slug]

    def clean_watchers(self):
        emails = [e.lower() for e in split_keys(self.cleaned_data.get("watchers") or "")]
        if not emails:
            return []
        people = {p.email: p for p in Person.objects.filter(email__in=emails)}
        unknown = [e for e in emails if e not in people]
        if unknown:
            raise ValidationError(f"No person with email {', '.join(unknown)}.")
        return [people[e] for e in emails]

    def answers(self) -> dict[str, Any]:
        """The type's answers keyed by their schema names, as the service takes them (dates as text)."""
        out = {}
        for name in self.answer_names:
            value = self.cleaned_data.get(name)
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            if value in (None, "", []):
                continue
            out[name[len(ANSWER_PREFIX) :]] = value
        return out

    def apply_service_errors(self, exc: ValidationError) -> None:
        """The service's errors beside their fields: fields.<name> -> f_<name>."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc.messages)
            return
        for key, messages in exc.message_dict.items():
            target = None
            if key.startswith("fields."):
                candidate = ANSWER_PREFIX + key.split(".", 1)[1]
                target = candidate if candidate in self.fields else None
            elif key in ("attachments", "upload", "file"):
                target = "attachments"
            elif key in self.fields:
                target = key
            self.add_error(target, messages if target else [f"{key}: {m}" for m in messages])

    def fieldsets(self) -> list[tuple[str, list[forms.BoundField]]]:
        first = [self[n] for n in ("subject",) if n in self.fields]
        about = [self[n] for n in ("system", "description") if n in self.fields]
        answers = [self[n] for n in self.answer_names]
        rest = [self[n] for n in ("watchers", "attachments")]
        return [("", first), ("", about), (self.request_type.name, answers), ("", rest)]


class ReplyForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=50_000, label="Message")
    internal = forms.BooleanField(required=False, label="Internal note (agents only)")
    attachments = MultipleFileField(label="Attachments")


class AssignForm(forms.Form):
    assignee = forms.CharField(required=False, label="Assignee", help_text="A username; empty to unassign.")


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(choices=Priority.choices)


class EscalateForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    queue = forms.ModelChoiceField(
        queryset=Queue.objects.all(),
        required=False,
        to_field_name="slug",
        empty_label="— the system owner team's queue —",
        help_text="Where it goes; by default the system owners' queue.",
    )


class RerouteForm(forms.Form):
    queue = forms.ModelChoiceField(queryset=Queue.objects.all(), to_field_name="slug")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)


class WatcherForm(forms.Form):
    email = forms.EmailField(label="Person's email")
    remove = forms.BooleanField(required=False)

    def clean_email(self):
        email = self.cleaned_data["email"].lower()
        person = Person.objects.filter(email=email).first()
        if person is None:
            raise ValidationError(f"No person with email {email}.")
        return person


NO_CHANGE = ""
UNASSIGN = "-"


class BulkForm(forms.Form):
    """Bulk actions on the ticked requests of the queue page. Empty means leave as it is."""

    ids = forms.CharField()
    assignee = forms.CharField(
        required=False, label="Assign to", help_text="A username, '-' to unassign, empty to leave."
    )
    status = forms.ChoiceField(choices=[(NO_CHANGE, "Status: leave"), *Status.choices], required=False)
    priority = forms.ChoiceField(choices=[(NO_CHANGE, "Priority: leave"), *Priority.choices], required=False)

    def clean_ids(self):
        raw = self.data.getlist("ids") if hasattr(self.data, "getlist") else [self.cleaned_data["ids"]]
        try:
            ids = sorted({int(v) for v in raw})
        except (TypeError, ValueError):
            raise ValidationError("Tick the requests to change.") from None
        if not ids:
            raise ValidationError("Tick the requests to change.")
        if len(ids) > 500:
            raise ValidationError("At most 500 requests at a time.")
        return ids

    def clean(self):
        data = super().clean()
        if not (data.get("assignee") or data.get("status") or data.get("priority")):
            raise ValidationError("Choose what to change: assignee, status or priority.")
        return data
