"""Progress links: the customer's way to their case's page without an account.

A link's token is 32 bytes from `secrets` (256 bits), shown once, in the notice that carries
it, and stored only as its SHA-256: a copy of the database opens no customer's page. A token
of that strength needs no slow hash; the hash only has to be one-way.

Every notice that carries a link carries a new one (the token cannot be read back to put it
in a second notice). The newest link sent is the ticket's live link (`live_until` empty); the
one before keeps working until `live_until` (PROGRESS_LINK_GRACE_HOURS later), then only the
newest opens the page. Every link of a ticket stops PROGRESS_LINK_TTL_DAYS after the ticket
closes, and an agent can revoke them all at once (`revoked_at`): the page sessions opened with
them end too.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import choice_values
from tickets.models import Ticket


class LinkKind(models.TextChoices):
    NOTICE = "notice", _("Sent in a notice")
    LOOKUP = "lookup", _("Found with the lookup form")
    SURVEY = "survey", _("Old survey link")


class ProgressLink(models.Model):
    """One link to a ticket's progress page, by the hash of its token.

    A LOOKUP or SURVEY row has no token anyone knows (a random hash): it anchors a page session
    that the lookup form or an old survey link opened, so that revoking ends it too.
    """

    Kind = LinkKind

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="progress_links")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.NOTICE)
    token_hash = models.CharField(_("token (SHA-256)"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"))
    live_until = models.DateTimeField(
        _("works until"),
        null=True,
        blank=True,
        help_text=_("Empty: the ticket's newest link. Set when a newer link was sent."),
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("revoked by"),
    )

    class Meta:
        verbose_name = _("progress link")
        verbose_name_plural = _("progress links")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(LinkKind)), name="portal_link_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(revoked_by__isnull=True) | Q(revoked_at__isnull=False),
                name="portal_link_revoked_by_needs_time",
            ),
        ]
        indexes = [
            # Sending a link retires the ticket's older ones; revoking ends them all.
            models.Index(fields=["ticket", "created_at"], name="portal_link_ticket_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for #{self.ticket_id} ({self.created_at:%Y-%m-%d})"
