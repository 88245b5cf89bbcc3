"""The shared kernel every domain package stands on: settings, the clock, phone numbers,
countries, input fields, errors, the data model and the audit log."""
