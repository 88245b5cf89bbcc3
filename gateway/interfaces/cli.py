"""Command-line verbs (``flask --app wsgi ...``): users, sites, clients import, worker."""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from gateway import translations
from gateway import users as users_service
from gateway.core.errors import GatewayError
from gateway.adapters.database import db
from gateway.core.models import Site, User

users_cli = AppGroup("users", help="Console and API users.")
sites_cli = AppGroup("sites", help="Facilities and community sites.")
clients_cli = AppGroup("clients", help="Enrolled clients.")
reminders_cli = AppGroup("reminders", help="Reminder planning and dispatch.")

ACTOR = "cli"


def _fail(exc: GatewayError) -> None:
    db.session.rollback()
    details = "".join(f"\n  {field}: {reason}" for field, reason in exc.fields.items())
    raise click.ClickException(f"{exc.message}{details}")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "coordinator"]), default="coordinator", show_default=True)
@click.option("--name")
@click.option("--password", help="Console password (asked for when omitted; use - to set none).")
@click.option("--phone", help="The user's own phone, for the coordinator USSD menu.")
@click.option("--pin", help="4-digit USSD PIN (with --phone).")
@click.option("--country", default=None, help="Country to read --phone in (default DEFAULT_COUNTRY).")
@click.option("--site", "site_ids", type=int, multiple=True, help="Site id the coordinator follows (repeatable).")
def create_user(email, role, name, password, phone, pin, country, site_ids):
    """Create a console user."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True) if sys.stdin.isatty() else None
        if password is None:
            raise click.ClickException("give --password (or --password - for a user without console access)")
    try:
        user = users_service.create_user(
            email, role, None if password == "-" else password, ACTOR, name=name, phone=phone, pin=pin,
            country=country or current_app.config["SETTINGS"].default_country, site_ids=list(site_ids))
        db.session.commit()
    except GatewayError as exc:
        _fail(exc)
    click.echo(f"created {user.role} {user.email} (id {user.id})")


@users_cli.command("create-token")
@click.argument("email")
def create_token(email):
    """Print a new API token for EMAIL (shown once; only its hash is stored)."""
    try:
        user = users_service.get_by_email(email)
        token = users_service.issue_token(user, ACTOR)
        db.session.commit()
    except GatewayError as exc:
        _fail(exc)
    click.echo(token)


@users_cli.command("revoke-tokens")
@click.argument("email")
def revoke_tokens(email):
    """Revoke every API token of EMAIL."""
    try:
        count = users_service.revoke_tokens(users_service.get_by_email(email), ACTOR)
        db.session.commit()
    except GatewayError as exc:
        _fail(exc)
    click.echo(f"revoked {count} token(s)")


@users_cli.command("ensure-admin")
def ensure_admin():
    """Create a first admin if there is none, and print its login (used by `make run`)."""
    settings = current_app.config["SETTINGS"]
    saved = Path(settings.instance_path) / "first-admin.txt"
    if db.session.scalar(select(User.id).where(User.role == "admin")) is None:
        password = secrets.token_urlsafe(12)
        users_service.create_user("admin@example.org", "admin", password, ACTOR, name="First admin")
        db.session.commit()
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"admin@example.org {password}\n")
    if saved.exists():
        email, password = saved.read_text().split()
        click.echo(f"First admin login: {email} / {password}  (kept in {saved}; once signed in, change it "
                   "under Account in the console's menu)")
    else:
        click.echo("An admin exists already.")


@sites_cli.command("create")
@click.argument("name")
@click.option("--country", required=True, help="ISO country code, e.g. ZA.")
@click.option("--timezone", help="IANA zone (default: the country's).")
@click.option("--region", help="Its district or county, as its country's schedule file lists it (optional).")
@click.option("--org-unit", help="The site's DHIS2 organisation unit id (11 characters), for the DHIS2 push.")
def create_site(name, country, timezone, region, org_unit):
    """Create a site; prints its id as `id <n>`."""
    from gateway.core.countries import COUNTRIES
    from gateway.interfaces.console import actions

    if country.strip().upper() not in COUNTRIES:
        raise click.ClickException(f"country: unknown or unsupported {country!r}")
    try:
        site = actions.create_site(name, country, timezone, ACTOR, region=region, org_unit=org_unit)
    except GatewayError as exc:
        _fail(exc)
    db.session.commit()
    where = f", region {site.region}" if site.region else ""
    click.echo(f"created site {site.name} (id {site.id}{where})")


@sites_cli.command("set-org-unit")
@click.argument("site_id", type=int)
@click.argument("org_unit")
def set_org_unit(site_id, org_unit):
    """Set (or, with -, clear) the DHIS2 organisation unit of site SITE_ID."""
    from gateway.indicators.dhis2 import set_org_unit as set_unit
    from gateway.core.fields import MAX_ID

    site = db.session.get(Site, site_id) if 0 < site_id <= MAX_ID else None
    if site is None:
        raise click.ClickException(f"site: no site with id {site_id}")
    try:
        set_unit(site, None if org_unit == "-" else org_unit, ACTOR)
        db.session.commit()
    except GatewayError as exc:
        _fail(exc)
    click.echo(f"site {site.name} (id {site.id}): DHIS2 org unit {site.dhis2_org_unit or 'none'}")


@clients_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--site", "site_id", type=int, help="Site the new clients join.")
@click.option("--country", help="Country to read local phone numbers in (default DEFAULT_COUNTRY).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the refused rows (default: FILE.refused.csv beside the file).")
@click.option("--plan/--no-plan", default=True, show_default=True,
              help="Compute the new clients' appointments and reminders now (else the worker does, within minutes).")
def import_clients(path: Path, site_id, country, report_path, plan):
    """Enrol clients from a CSV file, with a progress bar and a report of refused rows."""
    from gateway.clients.importer import import_csv

    settings = current_app.config["SETTINGS"]
    if site_id is not None and db.session.get(Site, site_id) is None:
        raise click.ClickException(f"--site: no site with id {site_id}")
    report_path = report_path or path.with_name(path.stem + ".refused.csv")
    # The refused rows whole, with a reason column: corrected, the file can be imported again as it is.
    refused_file = open(report_path, "w", newline="", encoding="utf-8")
    report = None

    size = path.stat().st_size
    try:
        with path.open("rb") as stream, click.progressbar(length=size, label=f"Importing {path.name}",
                                                         file=sys.stderr, show_pos=False) as bar:
            done = 0

            def progress(bytes_read: int) -> None:
                nonlocal done
                bar.update(bytes_read - done)
                done = bytes_read

            report = import_csv(stream, default_country=(country or settings.default_country).upper(),
                                actor=f"{ACTOR}:import", site_id=site_id, batch_size=settings.import_batch_size,
                                progress=progress, refused_csv=refused_file)
    except GatewayError as exc:
        _fail(exc)
    finally:
        refused_file.close()
        if report is None or not report.refused_count:
            report_path.unlink(missing_ok=True)
    click.echo(f"{report.rows} rows: {report.imported} imported, {report.skipped} already enrolled, "
               f"{report.refused_count} refused")
    if plan and report.imported:
        from gateway.appointments import plan_ahead

        with click.progressbar(length=report.imported, label="Planning appointments and reminders",
                               file=sys.stderr) as bar:
            plan_ahead(progress=bar.update)
    for item in report.refused[:20]:
        click.echo(f"  line {item['line']}: {item['reason']}", err=True)
    if report.refused_count > 20:
        click.echo(f"  ... and {report.refused_count - 20} more", err=True)
    if report.refused_count:
        click.echo(f"Refused rows with reasons: {report_path}")


@clients_cli.command("erase")
@click.argument("client_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_client(client_id: int, yes: bool):
    """Erase a client for good: her record, infants, visits, reminders, SMS, tasks and USSD sessions."""
    from gateway.clients import erasure
    from gateway.core.errors import NotFound
    from gateway.core.models import Client

    if db.session.get(Client, client_id) is None:
        db.session.rollback()
        click.echo(f"Client {client_id} is already erased (or was never enrolled); nothing to do.")
        return
    if not yes:
        click.confirm(f"Erase client {client_id} and everything that names her, for good?", abort=True)
    try:
        counts = erasure.erase(client_id, ACTOR)
    except NotFound:
        click.echo(f"Client {client_id} is already erased (or was never enrolled); nothing to do.")
        return
    click.echo(f"Erased client {client_id}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))


@reminders_cli.command("send-due")
@click.option("--now", "now_text", is_flag=False, flag_value="", default=None,
              help="Pretend it is this UTC moment (YYYY-MM-DDTHH:MM), for trials and tests; alone: this moment.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Send the queued messages here and now (not through a worker), and wait for them.")
def send_due_command(now_text, wait):
    """One dispatch pass now: everything due is sent, then it exits and prints counts."""
    import datetime as dt

    from gateway.core import clock
    from gateway.appointments import plan_ahead
    from gateway.messages.dispatch import SendCounts, send_due, send_messages
    from jobs import SEND_QUEUE

    translations.refresh(force=True)  # SMS in the texts staff reviewed, as the worker would send them
    try:
        now = dt.datetime.fromisoformat(now_text) if now_text else clock.utcnow()
    except ValueError:
        raise click.BadParameter("must be YYYY-MM-DDTHH:MM (UTC)", param_hint="--now") from None
    if now.tzinfo is not None:
        now = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    jobs: list[list[int]] = []
    with clock.frozen(now):
        plan_ahead(now)
        counts = send_due(now, enqueue=jobs.append if wait else SEND_QUEUE)
        click.echo(str(counts))
        if wait:
            total = SendCounts()
            with click.progressbar(jobs, label="Sending", file=sys.stderr) as bar:
                for ids in bar:
                    total.add(send_messages(ids))
            click.echo(f"sent {total.sent}, to retry {total.retry}, failed {total.failed}, cancelled {total.cancelled}")


@reminders_cli.command("resume")
def resume_sending():
    """Lift a pause on sending (after topping up the Africa's Talking account)."""
    from gateway.core import audit, clock
    from gateway.messages.dispatch import sending_paused

    alert = sending_paused()
    if alert is None:
        click.echo("sending is not paused")
        return
    alert.resolved_at, alert.resolved_by = clock.utcnow(), ACTOR
    audit.record(ACTOR, "sending.resumed", "alert", alert.id, {"message": alert.message})
    db.session.commit()
    click.echo("sending resumed; the next pass sends what waited")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
def worker(burst):
    """Run an RQ worker with the scheduler on (the Procfile's worker process)."""
    from jobs import QUEUES, run_worker

    run_worker(QUEUES, burst=burst)


@click.command("embedded-redis-stop")
def embedded_redis_stop():
    """Stop the embedded Redis of this instance (used by `make run` on exit)."""
    from gateway.adapters.redis_store import stop_embedded

    settings = current_app.config["SETTINGS"]
    if settings.redis_url:
        return
    click.echo("embedded Redis stopped" if stop_embedded(Path(settings.instance_path)) else "no embedded Redis")


ussd_cli = AppGroup("ussd", help="The USSD service.")


@ussd_cli.command("simulate")
@click.argument("phone", required=False)
@click.option("--network", help="AT networkCode, for that network's screen limit (e.g. 63902 Safaricom).")
def ussd_simulate(phone, network):
    """A terminal phone: type answers, see screens (answers may be piped in)."""
    from gateway.interfaces import simulator

    translations.refresh(force=True)
    if not phone:
        phone = click.prompt("Phone number")
    try:
        simulator.run(phone, sys.stdin, lambda text: click.echo(text, nl=False),
                      network=network, service_code=current_app.config["SETTINGS"].ussd_service_code)
    except simulator.BadRequest as exc:
        raise click.ClickException(str(exc)) from None


at_cli = AppGroup("at", help="Africa's Talking: the account and the callbacks.")

_REFUSED_HINTS = (
    "AT does not say which of the two is wrong. Check that:",
    "  - AT_API_KEY is the key of the app whose username is AT_USERNAME (the app's Settings, API Key);",
    "  - a sandbox key goes with AT_USERNAME=sandbox, a live app's key with that app's username;",
    "  - the key is the newest: generating a key cancels the one before, and a new key takes a few minutes to work.",
)


@at_cli.command("check")
@click.option("--public-url", help="The gateway's public HTTPS base address (default: PUBLIC_URL).")
@click.pass_context
def at_check(ctx, public_url):
    """Ask AT for the balance with the configured credentials, and print the callback URLs for AT's dashboard.

    Exits 1 when the credentials are missing or do not work.
    """
    from gateway.interfaces.callbacks.urls import address_problems, callback_urls
    from gateway.core.config import ConfigError, public_url as read_public_url
    from gateway.messages.account import check_account

    settings = current_app.config["SETTINGS"]
    try:
        base = read_public_url(public_url, "--public-url") if public_url is not None else settings.public_url
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--public-url") from None
    works = False
    currency = None
    if not (settings.at_username and settings.at_api_key):
        click.echo("AT_USERNAME and AT_API_KEY are not set: nothing can reach Africa's Talking, "
                   "SMS stay in the outbox.")
    else:
        check = check_account(settings.at_username, settings.at_api_key, settings.at_api_url)
        works, currency = check.works, check.currency
        click.echo(f"Africa's Talking, username {settings.at_username}, asked at {check.url}")
        if check.works:
            click.echo(f"  The username and API key work. Balance: {check.balance}.")
            if check.amount is not None and check.amount <= 0:
                click.echo("  The balance is empty: AT refuses SMS (InsufficientBalance) until it is topped up.")
        else:
            click.echo(f"  The username and API key do NOT work: {check.problem}.")
            if check.verdict == "refused":
                click.echo("\n".join("  " + line for line in _REFUSED_HINTS))
            elif check.verdict == "unreachable":
                click.echo("  Check this machine's network, and AT_API_URL if it is set "
                           "(unset, the SDK uses AT's own address).")
        if settings.at_username == "sandbox":
            click.echo("  This is AT's sandbox: SMS reach only the sandbox's simulator, never a real phone.")
        if settings.sms_backend == "outbox":
            click.echo("  SMS_BACKEND=outbox: messages stay in the outbox and are not sent to AT.")
    if settings.at_sender_id:
        click.echo(f"Sender id: {settings.at_sender_id} (AT_SENDER_ID); AT refuses it (InvalidSenderId) "
                   "unless it is approved for this account.")
    else:
        click.echo("No sender id (AT_SENDER_ID unset): SMS go out under AT's default sender.")
    cap = settings.sms_daily_spend_cap
    if cap:
        click.echo(f"Daily SMS spend cap: {cap}{' ' + currency if currency else ''} (SMS_DAILY_SPEND_CAP).")
    else:
        click.echo("No daily SMS spend cap (SMS_DAILY_SPEND_CAP unset).")
    click.echo(f"USSD service code: {settings.ussd_service_code} (USSD_SERVICE_CODE); it must be the code AT "
               "assigned to this service, as AT writes it.")
    click.echo("")
    if base:
        click.echo(f"Callback URLs for AT's dashboard (base {base}):")
        for callback, url in callback_urls(base, settings.callback_token):
            click.echo(f"  {callback.setting}:\n    {url}")
        for problem in address_problems(base):
            click.echo(f"Note: {problem}.")
    else:
        click.echo("No public address: give --public-url https://... or set PUBLIC_URL. AT calls these callbacks "
                   "over the internet, so the gateway needs a public HTTPS base address (while trying, an HTTPS "
                   "tunnel to this machine: docs/going-live.md). The paths are:")
        for callback, path in callback_urls("", settings.callback_token):
            click.echo(f"  {callback.setting}: {path}")
    if not settings.callback_token:
        click.echo("Note: CALLBACK_TOKEN is unset, so anyone who learns these URLs can post to them. "
                   "Set it to a long random string before going live.")
    if not works:
        ctx.exit(1)


translations_cli = AppGroup("translations", help="Texts in each language, written by programme staff.")


def _language_argument(ctx, param, value: str) -> str:
    value = value.strip().lower()
    if value not in translations.editable():
        raise click.BadParameter(f"one of {', '.join(translations.editable())}")
    return value


@translations_cli.command("status")
def translations_status():
    """Each language: offered to clients, or how many texts are missing or in draft."""
    translations.refresh(force=True)
    for s in translations.statuses():
        state = "offered" if s.offered else f"not offered: {s.missing} missing, {s.draft} in draft"
        click.echo(f"{s.code:4} {s.name:12} {s.reviewed}/{s.total} reviewed; {state}")


@translations_cli.command("export")
@click.argument("lang", callback=_language_argument)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the PO file here (default: standard output).")
def translations_export(lang, output):
    """A language as a gettext PO file, for Poedit, Weblate or any PO editor."""
    data = translations.export_po(lang)
    if output:
        output.write_bytes(data)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(data.decode("utf-8"), nl=False)


@translations_cli.command("import")
@click.argument("lang", callback=_language_argument)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def translations_import(lang, path):
    """Take a PO file back, whole or not at all: every text is checked first; fuzzy entries stay drafts."""
    from gateway.ussd import screen_limits

    translations.refresh(force=True)
    data = path.read_bytes()
    try:
        found = len(translations.read_po_file(lang, data))
        with click.progressbar(length=found, label=f"Checking {path.name}", file=sys.stderr) as bar:
            result = translations.import_po(lang, data, ACTOR, screen_limits(), progress=bar.update)
        db.session.commit()
    except translations.TranslationError as exc:
        db.session.rollback()
        raise click.ClickException("nothing imported:\n" + "\n".join(f"  {p}" for p in exc.problems)) from None
    translations.changed()
    click.echo(f"{result.changed} texts changed ({result.drafts} as drafts), {result.unchanged} unchanged")
    status = next(s for s in translations.statuses() if s.code == lang)
    click.echo(f"{status.name}: " + ("offered to clients" if status.offered else
                                     f"not offered yet: {status.missing} missing, {status.draft} in draft"))


dhis2_cli = AppGroup("dhis2", help="Programme indicators sent to DHIS2.")


@dhis2_cli.command("push")
@click.option("--period", required=True, help="The month to send, YYYY-MM (not in the future).")
@click.option("--site", "site_id", type=int, help="Send this site's values only (default: every site "
                                                  "with a DHIS2 org unit).")
@click.option("--dry-run", is_flag=True, help="Print the payload and send nothing.")
def dhis2_push(period, site_id, dry_run):
    """Send a month's indicators to DHIS2 (DHIS2_URL, DHIS2_USERNAME, DHIS2_PASSWORD, DHIS2_MAPPING)."""
    import json

    from gateway.indicators import dhis2

    settings = current_app.config["SETTINGS"]
    click.echo(f"Counting the indicators of {period}" + ("" if dry_run else f" and sending them to "
               f"{settings.dhis2_url or '(DHIS2_URL not set)'}") + "...", err=True)
    try:
        result = dhis2.push(settings, period, ACTOR, site_id, dry_run=dry_run)
    except GatewayError as exc:
        _fail(exc)
    body = result.payload
    for site in body.skipped:
        click.echo(f"  site {site.name} (id {site.id}) has no DHIS2 org unit: not sent", err=True)
    if dry_run:
        click.echo(json.dumps(body.json(), indent=2))
        click.echo(f"dry run: {len(body.data_values)} values for {len(body.sites)} site(s), nothing sent", err=True)
        return
    summary = result.summary
    click.echo(f"push {result.push_id} of {period}: {summary.describe()}")
    for conflict in summary.conflicts:
        where = ", ".join(f"{label} {', '.join(conflict[key])}" for key, label in
                          (("data_element", "data element"), ("org_unit", "org unit")) if conflict.get(key))
        click.echo(f"  conflict: {where or conflict.get('object')}: {conflict.get('value')}", err=True)
    if not summary.ok:
        raise click.ClickException("DHIS2 did not take every value; fix the cause and run the same push again "
                                   "(a push is idempotent)")


def init_app(app: Flask) -> None:
    for command in (users_cli, sites_cli, clients_cli, reminders_cli, worker, embedded_redis_stop, ussd_cli,
                    at_cli, translations_cli, dhis2_cli):
        app.cli.add_command(command)
