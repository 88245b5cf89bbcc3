"""The ways in: the web skin (JSON API, Africa's Talking callbacks, console, start page, health) and the CLI.

Thin: each parses and checks its input at the edge into plain values, calls
one domain package, and renders the answer. Nothing below this layer sees
Flask's ``request``, a form, or AT's field names (docs/architecture.md).
"""
