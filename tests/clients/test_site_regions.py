"""Sites have a region (district, county): set through the CLI or the console, checked against the country's
schedule file (the console's form: tests/console/test_console_admin.py), and deciding which region-limited vaccines a client's child is reminded of (API schedule)."""
import datetime as dt

from sqlalchemy import func, select

from gateway.adapters.database import db
from gateway.clients.sites import local_today
from gateway.core.models import AuditEntry, Site


def _site(runner, name, country, region=None):
    args = ["sites", "create", name, "--country", country] + (["--region", region] if region else [])
    r = runner.invoke(args=args)
    assert r.exit_code == 0, r.output
    return db.session.scalar(select(Site).where(Site.name == name))


def test_cli_sets_a_region_as_the_country_file_spells_it(runner):
    site = _site(runner, "Kisumu CCC", "ke", "  kisumu ")
    assert (site.country, site.region, site.timezone) == ("KE", "Kisumu", "Africa/Nairobi")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "site.created"))
    assert entry.changes["region"] == "Kisumu"
    assert _site(runner, "Kibera", "KE").region is None  # the region is optional


def test_cli_refuses_a_region_not_in_the_country_and_creates_nothing(runner):
    r = runner.invoke(args=["sites", "create", "X", "--country", "KE", "--region", "Atlantis"])
    assert r.exit_code != 0
    assert "region: 'Atlantis' is not a region of KE (one of: Mombasa, Kwale" in r.output
    r = runner.invoke(args=["sites", "create", "Y", "--country", "TZ", "--region", "Arusha"])
    assert r.exit_code != 0 and "region: TZ has no regions in its schedule file" in r.output
    assert db.session.scalar(select(func.count()).select_from(Site)) == 0


def _enrol_with_child(client, headers, site_id, phone):
    dob = (local_today("KE") - dt.timedelta(days=20)).isoformat()
    body = {"phone": phone, "consent": True, "country": "KE", "infants": [{"date_of_birth": dob}]}
    if site_id is not None:
        body["site_id"] = site_id
    r = client.post("/api/v1/clients", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    schedule = client.get(f"/api/v1/clients/{r.get_json()['id']}/schedule", headers=headers).get_json()
    return {a["name"] for a in schedule["appointments"] if a["kind"] == "immunisation"}


def test_the_malaria_vaccine_is_planned_only_at_a_site_in_a_malaria_county(client, runner, admin_headers):
    kisumu = _site(runner, "Kisumu CCC", "KE", "Kisumu")
    nairobi = _site(runner, "Nairobi MCH", "KE", "Nairobi")
    no_region = _site(runner, "Somewhere", "KE")
    in_kisumu = _enrol_with_child(client, admin_headers, kisumu.id, "0712 345 671")
    assert {"Malaria1", "Malaria2", "Malaria3", "Malaria4"} <= in_kisumu
    for site_id, phone in ((nairobi.id, "0712 345 672"), (no_region.id, "0712 345 673"), (None, "0712 345 674")):
        names = _enrol_with_child(client, admin_headers, site_id, phone)
        assert not any(n.startswith("Malaria") for n in names), site_id
        assert names == in_kisumu - {"Malaria1", "Malaria2", "Malaria3", "Malaria4"}  # national lines alike


def test_clients_imported_in_bulk_get_their_sites_region_limited_doses(client, runner, admin_headers):
    """The bulk planner (a CSV's new clients, planned by plan_ahead) reads the site's region as one by one does."""
    import io

    from gateway import appointments
    from gateway.clients.importer import import_csv

    kisumu = _site(runner, "Kisumu CCC", "KE", "Kisumu")
    dob = (local_today("KE") - dt.timedelta(days=20)).isoformat()
    report = import_csv(io.BytesIO(f"consent,phone,infant_date_of_birth\nyes,0712 345 679,{dob}\n".encode()),
                        default_country="KE", actor="test", site_id=kisumu.id)
    assert report.imported == 1, report.refused
    appointments.plan_ahead()
    db.session.commit()
    her = client.get("/api/v1/clients", query_string={"phone": "0712 345 679", "country": "KE"},
                     headers=admin_headers).get_json()["clients"][0]
    schedule = client.get(f"/api/v1/clients/{her['id']}/schedule", headers=admin_headers).get_json()
    assert {"Malaria1", "Malaria2"} <= {a["name"] for a in schedule["appointments"]}
