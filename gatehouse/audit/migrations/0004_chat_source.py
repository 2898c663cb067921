"""The source "chat": changes made from the desk's inbound Slack slash command and buttons.

Choices only: no schema change on either database (Django does not rebuild a SQLite table for choices, so the
chain-head trigger of 0002 stays).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_timestamp_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="source",
            field=models.CharField(
                choices=[
                    ("web", "Web"),
                    ("api", "API"),
                    ("cli", "CLI"),
                    ("import", "Import"),
                    ("job", "Job"),
                    ("system", "System"),
                    ("chat", "Chat"),
                ],
                max_length=10,
            ),
        ),
    ]
