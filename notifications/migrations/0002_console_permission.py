from django.db import migrations


class Migration(migrations.Migration):
    """The operator console's permission (notifications.use_console)."""

    dependencies = [
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="notification",
            options={
                "ordering": ["-created", "-id"],
                "permissions": [("use_console", "Can use the operator console")],
            },
        ),
    ]
