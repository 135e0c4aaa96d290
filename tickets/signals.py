"""Domain signals of the tickets app: how apps above tickets hear what happened to a ticket.

Tickets imports none of the apps above it (docs/ARCHITECTURE.md); they listen here. Each signal
says whether it is sent inside the transaction that makes the change or after it commits:

- *inside the transaction*: a receiver's writes commit or roll back with the change (the outbox
  promise: a notice is written with its cause, never for a change that rolled back). A receiver
  that raises rolls the change back too, so these receivers only write rows; they never talk to
  the outside world (a worker does, later, from the rows).
- *on commit*: receivers see the committed rows; one that raises is logged by Django's
  `send_robust` callers or fails alone, and never undoes the change.

ticket_opened   on commit.  sender Ticket; ticket_id, source.
    A ticket was opened (by a customer, an agent, an integration or proactively).

ticket_replied  inside the transaction.  sender Ticket; ticket, message, body, channel, at.
    An agent's public reply to the customer (`tickets.services.ticket_reply`). `channel` is the
    channel the reply names ("" for the customer's preferred one; "phone" for a logged call,
    which sends nothing). Listener: notifications queues the reply notice (dedupe key
    `reply:<message id>`), so a reply and its notice commit together.

ticket_solved   inside the transaction.  sender Ticket; ticket, survey, at.
    The ticket was set to solved; `survey` is this resolution's SatisfactionSurvey (one per
    resolution: a ticket reopened and solved again is asked again). Listener: notifications
    queues the survey notice (dedupe key `survey:<survey id>`), sent SURVEY_DELAY_HOURS later so
    the customer reads the solution first.

survey_answered  on commit.  sender SatisfactionSurvey; survey, rating, at.
    The customer rated the service, or changed their rating inside the edit window (on the
    progress page, portal). No listener yet: KPIs and the agent scorecard read the rows.
"""

from django.dispatch import Signal

ticket_opened = Signal()
ticket_replied = Signal()
ticket_solved = Signal()
survey_answered = Signal()
