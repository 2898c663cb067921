"""Forms of the OS release catalog and the platform policies (admin pages)."""

from django import forms
from django.core.exceptions import ValidationError

from gatehouse.core.forms import DATE_INPUT, ServiceForm, split_keys
from gatehouse.endpoints.checks import unknown_requirements
from gatehouse.endpoints.models import OsRelease, PlatformPolicy


class OsReleaseForm(ServiceForm):
    model = OsRelease
    model_fields = ("platform", "line", "version", "released_on")
    widgets = {"released_on": DATE_INPUT}

    def clean(self):
        data = super().clean()
        platform, version = data.get("platform"), data.get("version")
        if platform and version:
            clash = OsRelease.objects.filter(platform=platform, version=version)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("version", f"{version} is already in the catalog.")
        return data


class PlatformPolicyForm(ServiceForm):
    model = PlatformPolicy
    model_fields = (
        "required_sources",
        "max_agent_age_days",
        "minimum_os_version",
        "patch_window_days",
        "require_disk_encryption",
    )
    required_sources = forms.CharField(
        required=False,
        help_text="Comma separated: a feed (jamf, sentinelone, crowdstrike, drivestrike), a kind (mdm, edr, "
        "anti_theft: any feed of it), or alternatives joined by | (sentinelone|crowdstrike).",
    )

    def initial_from(self, instance):
        return {**super().initial_from(instance), "required_sources": ", ".join(instance.required_sources)}

    def clean_required_sources(self):
        entries = split_keys(self.cleaned_data.get("required_sources") or "")
        unknown = unknown_requirements(entries)
        if unknown:
            raise ValidationError(f"Unknown feed or kind: {', '.join(unknown)}.")
        return [e.lower() for e in entries]
