from django.db import migrations, models


class Migration(migrations.Migration):
    """Each event's random check, and its predecessor's: ids name the event they stand on, so a
    log restored from a backup (or emptied) is not taken for the one a client read."""

    dependencies = [
        ("sse", "0002_log_identity"),
    ]

    operations = [
        migrations.AddField(
            model_name="channelhead",
            name="last_check",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="channelhead",
            name="prev_check",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="storedevent",
            name="event_check",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="storedevent",
            name="prev_check",
            field=models.IntegerField(blank=True, null=True),
        ),
    ]
