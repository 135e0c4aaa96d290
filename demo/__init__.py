"""The demo data app: ``manage.py seed_demo`` and the builders behind it.

It fills a database with realistic, bilingual and deterministic demo data (logins, teams,
carriers, lanes, customers, shipments, incidents, tickets, compensation, surveys and
notifications) through the models of every other project app. That is why it sits at the top
of the layer stack, just below ``config``: it imports the apps below it, and nothing in the
project imports it.

The builders live in the modules of this package (entry point: ``demo.builder``); this file
imports none of them, so loading the app does not touch any model.
"""
