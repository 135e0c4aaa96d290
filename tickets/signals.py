"""Domain signals of the tickets app, sent on commit (receivers see the committed rows).

    ticket_opened   ticket_id, source
    agent_replied   ticket_id, message_id   (a public reply to deliver to the customer)

Notifications (issue 5) connects to these; receivers must be idempotent.
"""

from django.dispatch import Signal

ticket_opened = Signal()
agent_replied = Signal()
