from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class ShipmentsConfig(AppConfig):
    name = "shipments"
    verbose_name = _("Shipments")

    def ready(self) -> None:
        from shipments.models import CarrierStatusMapping
        from shipments.receivers import status_mapping_saved

        # Models are importable only once the registry is ready.
        post_save.connect(
            status_mapping_saved,
            sender=CarrierStatusMapping,
            dispatch_uid="shipments.status_mapping_saved",
        )
