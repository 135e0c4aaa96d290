"""SLA timers. `calendar`: business-hours arithmetic on team calendars, ORM-free at its core."""
