"""Clients: enrolment, changes and bulk import of enrolled phone numbers."""
