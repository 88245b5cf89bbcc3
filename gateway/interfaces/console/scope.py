"""What the signed-in user may see: every console page reads clients, sites, tasks and messages through here.

Admins see everything. A coordinator sees the clients whose site is one of
hers, their messages and tasks, and the enrolment requests from unknown
numbers of her sites' countries; anything else answers 404, as if it did not
exist.
"""
from __future__ import annotations

import phonenumbers
from flask import abort, current_app
from flask_login import current_user
from sqlalchemy import ColumnElement, Select, and_, or_, select

from gateway import access
from gateway.core.countries import COUNTRIES
from gateway.adapters.database import db
from gateway.core.models import Client, Message, Site, Task


def client_filter() -> ColumnElement[bool]:
    """The condition on ``Client`` rows the current user may see: the one rule, ``access.client_condition``."""
    return access.client_condition(current_user.user)


def visible_clients() -> Select:
    """``select(Client)`` limited to the current user's clients: every page reads clients through this."""
    return select(Client).where(client_filter())


def visible_client_ids() -> Select:
    return visible_clients().with_only_columns(Client.id)


def client_or_404(client_id: int) -> Client:
    client = db.session.scalar(visible_clients().where(Client.id == client_id))
    if client is None:
        abort(404)
    return client


def visible_sites() -> list[Site]:
    """The sites the user works with (admin: all), by name."""
    query = select(Site).order_by(Site.name)
    if not current_user.is_admin:
        query = query.where(Site.id.in_(current_user.site_ids or [-1]))
    return list(db.session.scalars(query))


def site_or_404(site_id: int) -> Site:
    site = next((s for s in visible_sites() if s.id == site_id), None)
    if site is None:
        abort(404)
    return site


def visible_messages() -> Select:
    """``select(Message)`` limited to the user's clients' messages (admin: all, unknown senders too)."""
    query = select(Message)
    if current_user.is_admin:
        return query
    return query.where(Message.client_id.in_(visible_client_ids()))


def message_or_404(message_id: int) -> Message:
    message = db.session.scalar(visible_messages().where(Message.id == message_id))
    if message is None:
        abort(404)
    return message


def calling_code(country: str) -> str:
    """``"+27"`` for ZA: an unknown caller's country is read from her number."""
    return f"+{phonenumbers.country_code_for_region(country)}"


def tasks_of_site(site: Site | None) -> Select:
    """Open-or-closed tasks of one site (``None``: clients without a site, admins only).

    An enrolment request from an unknown number has no site yet; it shows on
    every site of the caller's country, where any of its coordinators may take it.
    """
    if site is None:
        return select(Task).where(Task.kind != "transfer_request", Task.site_id.is_(None), or_(
            Task.client_id.in_(select(Client.id).where(Client.site_id.is_(None))),
            Task.kind == "enrolment_request"))
    # A transfer request is the admin's alone (gateway/clients/transfers.py): no site's list shows it.
    return select(Task).where(Task.kind != "transfer_request", or_(
        Task.site_id == site.id,
        Task.client_id.in_(select(Client.id).where(Client.site_id == site.id)),
        and_(Task.kind == "enrolment_request", Task.site_id.is_(None), Task.client_id.is_(None),
             Task.phone.startswith(calling_code(site.country))),
    ))


def task_or_404(task_id: int) -> Task:
    """A task the user may act on: one of her sites' (any site's, for admins)."""
    task = db.session.get(Task, task_id)
    if task is None:
        abort(404)
    if current_user.is_admin:
        return task
    for site in visible_sites():
        if db.session.scalar(tasks_of_site(site).where(Task.id == task_id).with_only_columns(Task.id)):
            return task
    abort(404)


def default_zone() -> str:
    """The time zone pages show times in: the user's first site's, else the default country's."""
    sites = visible_sites() if not current_user.is_admin else []
    if sites:
        return sites[0].timezone
    country = COUNTRIES.get(current_app.config["SETTINGS"].default_country)
    return country.timezone if country else "UTC"
