"""Who may see, change or play a client: one rule, used by the JSON API, the console and the USSD menus.

An admin sees every client. A coordinator sees the clients whose site is one
of hers, and no other: not a client of another site, not a client with no
site. Whatever is not hers to see answers as if it did not exist (404 on the
web, "not found" on the phone), so no one learns that it does.

The rule is written twice in one place: ``may_see`` for a client in hand,
``client_condition`` for a query (so lists are filtered by the database, not
after), and a test holds them to the same answers.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, false, true

from gateway.core.models import Client, User


def site_ids_of(user: User) -> frozenset[int]:
    """The sites a user coordinates (an admin's are all, and not listed here)."""
    return frozenset(site.id for site in user.sites)


def may_see(user: User, client: Client) -> bool:
    """Whether ``user`` may see, change or play ``client`` (an admin: always; a coordinator: her sites')."""
    if user.role == "admin":
        return True
    return client.site_id is not None and client.site_id in site_ids_of(user)


def client_condition(user: User) -> ColumnElement[bool]:
    """``may_see`` as a condition on ``Client`` rows, for queries that list or find clients."""
    if user.role == "admin":
        return true()
    ids = site_ids_of(user)
    return Client.site_id.in_(ids) if ids else false()
