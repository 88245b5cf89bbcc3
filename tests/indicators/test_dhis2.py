"""`flask dhis2 push` against the DHIS2 stand-in (devtools/dhis2_server.py): payload, auth, idempotence,
conflicts, faults, and the refusals that send nothing."""
from __future__ import annotations

import datetime as dt
import socket

import pytest
from sqlalchemy import select

import jobs
from devtools import dhis2_server
from devtools.at_server import serve_in_thread
from gateway.core import clock
from gateway.indicators import dhis2
from gateway.adapters.database import db
from gateway.core.models import Appointment, AuditEntry, Client, Dhis2Push, Site

MAPPING = """\
data_elements:
  clients_active: DeClients01
  art_refills_due:
    data_element: DeRefills01
    category_option_combo: CocDefault1
"""


@pytest.fixture
def fake():
    app = dhis2_server.create_app(username="admin", password="district")
    url, stop = serve_in_thread(app)
    yield url, app.extensions["dhis2_server"]
    stop()


@pytest.fixture
def month():
    """Last month (a month that is over), and a world in it: two sites with org units, one without."""
    period = dhis2.indicators.Period(clock.today_utc().year, clock.today_utc().month).minus(1)
    sites = [Site(name="North", country="ZA", timezone="Africa/Johannesburg", dhis2_org_unit="OuNorth0001"),
             Site(name="South", country="ZA", timezone="Africa/Johannesburg", dhis2_org_unit="OuSouth0001"),
             Site(name="Nowhere", country="ZA", timezone="Africa/Johannesburg")]
    db.session.add_all(sites)
    db.session.flush()
    for i, site in enumerate([sites[0], sites[0], sites[1], sites[2]]):
        c = Client(phone=f"+2782333000{i}", country="ZA", language="en", site_id=site.id,
                   created_at=dt.datetime.combine(period.start, dt.time()) - dt.timedelta(days=30))
        db.session.add(c)
        db.session.flush()
        db.session.add(Appointment(client_id=c.id, kind="art_refill", name="ART refill",
                                   due_date=period.start + dt.timedelta(days=9)))
    db.session.commit()
    return period.label, sites


@pytest.fixture
def configured(app, monkeypatch, tmp_path, fake):
    """The app's settings pointing at the stand-in, with the mapping above."""
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)

    def configure(**changes):
        settings = app.config["SETTINGS"].replace(**{"dhis2_url": fake[0], "dhis2_username": "admin",
                                                     "dhis2_password": "district", "dhis2_mapping": str(mapping),
                                                     "dhis2_timeout": 5, **changes})
        monkeypatch.setitem(app.config, "SETTINGS", settings)
        return settings
    configure()
    return configure


def test_push_payload_auth_and_idempotence(runner, month, configured, fake):
    period, (north, south, _) = month
    server = fake[1]
    result = runner.invoke(args=["dhis2", "push", "--period", period])
    assert result.exit_code == 0, result.output
    assert "imported 4, updated 0, ignored 0, deleted 0" in result.output
    assert "site Nowhere (id" in result.output and "no DHIS2 org unit" in result.output
    (sent,) = server.requests
    assert sent["user"] == "admin" and sent["content_type"] == "application/json"
    yyyymm = period.replace("-", "")
    assert sorted(sent["body"]["dataValues"], key=lambda v: (v["orgUnit"], v["dataElement"])) == [
        {"dataElement": "DeClients01", "period": yyyymm, "orgUnit": "OuNorth0001", "value": "2"},
        {"dataElement": "DeRefills01", "period": yyyymm, "orgUnit": "OuNorth0001", "value": "2",
         "categoryOptionCombo": "CocDefault1"},
        {"dataElement": "DeClients01", "period": yyyymm, "orgUnit": "OuSouth0001", "value": "1"},
        {"dataElement": "DeRefills01", "period": yyyymm, "orgUnit": "OuSouth0001", "value": "1",
         "categoryOptionCombo": "CocDefault1"},
    ]
    # The same month again: DHIS2 updates its four values, never adds to them.
    again = runner.invoke(args=["dhis2", "push", "--period", period])
    assert again.exit_code == 0 and "imported 0, updated 4" in again.output
    assert len(server.values) == 4
    pushes = db.session.scalars(select(Dhis2Push).order_by(Dhis2Push.id)).all()
    assert [(p.status, p.imported, p.updated, p.values_sent) for p in pushes] == [("ok", 4, 0, 4), ("ok", 0, 4, 4)]
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "dhis2.pushed")) is not None
    # One site only.
    one = runner.invoke(args=["dhis2", "push", "--period", period, "--site", str(south.id)])
    assert one.exit_code == 0 and {v["orgUnit"] for v in server.requests[-1]["body"]["dataValues"]} == {"OuSouth0001"}


def test_dry_run_sends_nothing(runner, month, configured, fake):
    result = runner.invoke(args=["dhis2", "push", "--period", month[0], "--dry-run"])
    assert result.exit_code == 0, result.output
    assert '"dataValues"' in result.output and '"OuNorth0001"' in result.output and "nothing sent" in result.output
    assert fake[1].requests == [] and db.session.scalar(select(Dhis2Push.id)) is None


def test_conflicts_are_reported_by_data_element_and_org_unit(runner, month, configured, fake):
    fake[1].configure(unknown_data_elements=["DeClients01"], unknown_org_units=["OuSouth0001"])
    result = runner.invoke(args=["dhis2", "push", "--period", month[0]])
    assert result.exit_code != 0
    assert "imported 1, updated 0, ignored 3" in result.output, result.output
    assert ("conflict: data element DeClients01, org unit OuNorth0001, OuSouth0001: Data element not found"
            in result.output)
    assert ("conflict: data element DeRefills01, org unit OuSouth0001: Organisation unit not found"
            in result.output)
    push = db.session.scalar(select(Dhis2Push))
    assert push.status == "conflicts" and len(push.conflicts) == 2
    # The metadata fixed in DHIS2, the same push completes.
    fake[1].configure(unknown_data_elements=[], unknown_org_units=[])
    rerun = runner.invoke(args=["dhis2", "push", "--period", month[0]])
    assert rerun.exit_code == 0 and "imported 3, updated 1" in rerun.output and len(fake[1].values) == 4


def test_refused_login_then_a_rerun(runner, month, configured, fake):
    configured(dhis2_password="wrong")
    result = runner.invoke(args=["dhis2", "push", "--period", month[0]])
    assert result.exit_code != 0 and "refused the login (401)" in result.output
    assert "wrong" not in result.output
    assert db.session.scalar(select(Dhis2Push)).status == "failed"
    configured()
    assert runner.invoke(args=["dhis2", "push", "--period", month[0]]).exit_code == 0
    assert len(fake[1].values) == 4


def test_unreachable_timeout_and_server_error(runner, month, configured, fake):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    configured(dhis2_url=closed)
    result = runner.invoke(args=["dhis2", "push", "--period", month[0]])
    assert result.exit_code != 0 and "DHIS2 unreachable" in result.output
    configured(dhis2_timeout=1)
    fake[1].configure(latency=1.5)
    result = runner.invoke(args=["dhis2", "push", "--period", month[0]])
    assert result.exit_code != 0 and "no answer from DHIS2 within 1 s" in result.output
    fake[1].configure(latency=0, fail_next=1)
    result = runner.invoke(args=["dhis2", "push", "--period", month[0]])
    assert result.exit_code != 0 and "HTTP 500" in result.output
    assert runner.invoke(args=["dhis2", "push", "--period", month[0]]).exit_code == 0
    assert [p.status for p in db.session.scalars(select(Dhis2Push).order_by(Dhis2Push.id))] == [
        "failed", "failed", "failed", "ok"]


@pytest.mark.parametrize("args, mapping, message", [
    (["--period", "2026-13"], None, "period"),
    (["--period", "2999-01"], None, "is in the future"),
    (["--site", "999999"], None, "--site: no site with id 999999"),
    ([], "data_elements:\n  clients_actve: DeClients01\n", "mapping.yaml:2: unknown indicator code 'clients_actve'"),
    ([], "data_elements: [\n", "mapping.yaml:2: not valid YAML"),
    ([], "data_elements:\n  sms_sent: not-a-uid\n", "mapping.yaml:2: sms_sent: data element 'not-a-uid'"),
])
def test_bad_input_sends_nothing(runner, month, configured, fake, tmp_path, args, mapping, message):
    if mapping is not None:
        (tmp_path / "mapping.yaml").write_text(mapping)
    if "--period" not in args:
        args = ["--period", month[0], *args]
    result = runner.invoke(args=["dhis2", "push", *args])
    assert result.exit_code != 0 and message in result.output, result.output
    assert fake[1].requests == [] and db.session.scalar(select(Dhis2Push.id)) is None


def test_missing_configuration(runner, month, configured, fake):
    configured(dhis2_mapping=None)
    result = runner.invoke(args=["dhis2", "push", "--period", month[0]])
    assert result.exit_code != 0 and "DHIS2_MAPPING is not set" in result.output
    configured(dhis2_url=None)
    result = runner.invoke(args=["dhis2", "push", "--period", month[0]])
    assert result.exit_code != 0 and "DHIS2_URL is not set" in result.output
    site = month[1][2]
    configured()
    result = runner.invoke(args=["dhis2", "push", "--period", month[0], "--site", str(site.id)])
    assert result.exit_code != 0 and "has no DHIS2 org unit" in result.output
    assert fake[1].requests == []


def test_sites_carry_an_org_unit(runner, app):
    result = runner.invoke(args=["sites", "create", "Gugulethu CDC", "--country", "ZA", "--org-unit", "OuGugu00001"])
    assert result.exit_code == 0, result.output
    site_id = int(result.output.split("id ")[1].split(")")[0])
    assert db.session.get(Site, site_id).dhis2_org_unit == "OuGugu00001"
    bad = runner.invoke(args=["sites", "create", "Nyanga", "--country", "ZA", "--org-unit", "short"])
    assert bad.exit_code != 0 and "org_unit" in bad.output
    assert db.session.scalar(select(Site).where(Site.name == "Nyanga")) is None
    assert runner.invoke(args=["sites", "set-org-unit", str(site_id), "OuGugu00002"]).exit_code == 0
    db.session.expire_all()
    assert db.session.get(Site, site_id).dhis2_org_unit == "OuGugu00002"
    assert runner.invoke(args=["sites", "set-org-unit", "999999", "OuGugu00002"]).exit_code != 0


def test_the_monthly_job(app, month, configured, fake):
    settings = configured(dhis2_push_day=5)
    today = clock.today_utc()
    this_month = today.replace(day=1)
    assert dhis2.monthly_push(settings, this_month + dt.timedelta(days=3)) is None  # the 4th: too early
    fake[1].configure(fail_next=1)  # DHIS2 down on the 5th: tried again at the next run
    assert dhis2.monthly_push(settings, this_month + dt.timedelta(days=4)).summary.status == "failed"
    done = dhis2.monthly_push(settings, this_month + dt.timedelta(days=4))
    assert done.summary.ok and done.payload.period.label == month[0]
    assert dhis2.monthly_push(settings, this_month + dt.timedelta(days=5)) is None  # pushed already
    assert dhis2.monthly_push(settings.replace(dhis2_url=None), this_month + dt.timedelta(days=6)) is None
    assert "dhis2-push" in jobs.PERIODIC and jobs.PERIODIC["dhis2-push"][1] == "jobs.dhis2_monthly_push"
    assert jobs.dhis2_monthly_push() is None  # today's run: last month is pushed already, or it is too early
    assert len(fake[1].requests) == 2 and len(fake[1].values) == 4
