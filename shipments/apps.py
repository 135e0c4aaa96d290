from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class ShipmentsConfig(AppConfig):
    name = "shipments"
    verbose_name = _("Shipments")

    def ready(self) -> None:
        # In ready(): models are importable only once the app registry is ready.
        from shipments.models import CarrierStatusMapping
        from shipments.receivers import status_mapping_saved

        post_save.connect(
            status_mapping_saved,
            sender=CarrierStatusMapping,
            dispatch_uid="shipments.status_mapping_saved",
        )
