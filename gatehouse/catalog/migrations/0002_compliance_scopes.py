from django.db import migrations

SCOPES = [
    ("sox", "SOX"),
    ("soc2", "SOC 2"),
    ("pci", "PCI DSS"),
    ("iso27001", "ISO 27001"),
    ("hipaa", "HIPAA"),
    ("fedramp", "FedRAMP"),
    ("gdpr", "GDPR"),
]


def add_scopes(apps, schema_editor):
    ComplianceScope = apps.get_model("catalog", "ComplianceScope")
    for code, name in SCOPES:
        ComplianceScope.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(add_scopes, migrations.RunPython.noop)]
