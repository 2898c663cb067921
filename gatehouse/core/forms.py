"""Forms for the edit pages. They validate input and never save: views hand cleaned_data to a service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms.models import fields_for_model, model_to_dict


class ServiceForm(forms.Form):
    """A form over some of a model's fields, built from the model (choices, lengths, validators).

    Not a ModelForm on purpose: a ModelForm's validation writes the submitted values onto the instance, and the
    service would then see no difference to record in the audit trail.
    """

    model = None
    model_fields: tuple[str, ...] = ()
    widgets: dict[str, forms.Widget] = {}
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (legend, field names); the rest go last

    def __init__(self, data=None, *, instance=None, **kwargs: Any):
        self.instance = instance
        initial = kwargs.pop("initial", None) or {}
        if instance is not None:
            initial = {**self.initial_from(instance), **initial}
        super().__init__(data, initial=initial, **kwargs)
        generated = fields_for_model(self.model, fields=self.model_fields, widgets=self.widgets)
        # Fields the subclass declares itself win over the generated ones, in the model_fields order.
        ordered = {name: self.fields.get(name) or generated[name] for name in self.model_fields}
        self.fields = {**ordered, **{k: v for k, v in self.fields.items() if k not in ordered}}

    def initial_from(self, instance) -> dict[str, Any]:
        return model_to_dict(instance, fields=[f for f in self.model_fields if f not in self.declared_fields])

    def fieldsets(self) -> list[tuple[str, list[forms.BoundField]]]:
        placed = {name for _, names in self.groups for name in names}
        sets = [(legend, [self[n] for n in names if n in self.fields]) for legend, names in self.groups]
        rest = [self[n] for n in self.fields if n not in placed]
        if rest:
            sets.append(("Other" if sets else "", rest))
        return sets

    def service_fields(self) -> dict[str, Any]:
        """The model fields to pass to the service."""
        return {name: self.cleaned_data[name] for name in self.model_fields if name in self.cleaned_data}


def split_keys(text: str) -> list[str]:
    """Comma, space or newline separated entries, in order, without repeats."""
    return list(dict.fromkeys(part for part in text.replace(",", " ").split() if part))


DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
