"""A client's clinic file number: optional, trimmed, printable, at most 30 characters, unique within her site;
through the API (enrol, change, read) and the CSV import."""
import io

import pytest
from sqlalchemy import func, select

from gateway.clients.importer import import_csv
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Client, Site


@pytest.fixture
def two_sites(app):
    sites = [Site(name="Khayelitsha CHC", country="ZA", timezone="Africa/Johannesburg"),
             Site(name="Gugulethu CHC", country="ZA", timezone="Africa/Johannesburg")]
    db.session.add_all(sites)
    db.session.commit()
    return [s.id for s in sites]


def enrol(client, headers, **body):
    return client.post("/api/v1/clients", json={"consent": True, **body}, headers=headers)


def test_enrol_read_and_change_a_clinic_number(client, admin_headers, two_sites):
    r = enrol(client, admin_headers, phone="082 123 4567", site_id=two_sites[0], clinic_number="  KH-2024/0153 ")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["clinic_number"] == "KH-2024/0153"  # trimmed
    assert client.get(f"/api/v1/clients/{body['id']}", headers=admin_headers).get_json()["clinic_number"] \
        == "KH-2024/0153"
    r = client.patch(f"/api/v1/clients/{body['id']}", json={"clinic_number": "KH-2024/0154"}, headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["clinic_number"] == "KH-2024/0154"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "client.updated"))
    assert entry.changes == {"clinic_number": ["KH-2024/0153", "KH-2024/0154"]}
    r = client.patch(f"/api/v1/clients/{body['id']}", json={"clinic_number": None}, headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["clinic_number"] is None
    # Without one: null.
    r = enrol(client, admin_headers, phone="082 123 4568", site_id=two_sites[0])
    assert r.get_json()["clinic_number"] is None


@pytest.mark.parametrize("value,reason", [
    ("X" * 31, "at most 30 characters"),
    ("KH\x07153", "control characters"),
    ("KH\u200b153", "printable"),
    (153, "must be text"),
])
def test_a_bad_clinic_number_is_422_naming_the_field(client, admin_headers, two_sites, value, reason):
    r = enrol(client, admin_headers, phone="082 123 4567", site_id=two_sites[0], clinic_number=value)
    assert r.status_code == 422
    assert reason in r.get_json()["fields"]["clinic_number"]
    assert db.session.scalar(select(func.count()).select_from(Client)) == 0


def test_a_clinic_number_is_unique_within_its_site(client, admin_headers, two_sites):
    first = enrol(client, admin_headers, phone="082 123 4567", site_id=two_sites[0], clinic_number="153")
    assert first.status_code == 201
    r = enrol(client, admin_headers, phone="082 123 4568", site_id=two_sites[0], clinic_number="153")
    assert r.status_code == 409
    assert "clinic_number" in r.get_json()["fields"]
    # Another site may use the same number for its own client.
    other = enrol(client, admin_headers, phone="082 123 4569", site_id=two_sites[1], clinic_number="153")
    assert other.status_code == 201
    # Neither a change of number nor a move to the first site may collide.
    r = client.patch(f"/api/v1/clients/{other.get_json()['id']}", json={"site_id": two_sites[0]},
                     headers=admin_headers)
    assert r.status_code == 409 and "clinic_number" in r.get_json()["fields"]
    second = enrol(client, admin_headers, phone="082 123 4570", site_id=two_sites[0], clinic_number="154")
    r = client.patch(f"/api/v1/clients/{second.get_json()['id']}", json={"clinic_number": " 153"},
                     headers=admin_headers)
    assert r.status_code == 409 and "clinic_number" in r.get_json()["fields"]
    db.session.expire_all()
    assert db.session.scalar(select(Client.clinic_number).where(Client.id == second.get_json()["id"])) == "154"
    # Her own number again is no conflict.
    r = client.patch(f"/api/v1/clients/{first.get_json()['id']}", json={"clinic_number": "153", "name": "Nomsa"},
                     headers=admin_headers)
    assert r.status_code == 200


def test_the_csv_import_reads_clinic_numbers_and_refuses_a_duplicate_naming_it(app, two_sites):
    enrolled = Client(phone="+27820000001", country="ZA", language="en", site_id=two_sites[0], clinic_number="100")
    db.session.add(enrolled)
    db.session.commit()
    text = ("consent,phone,name,clinic_number\n"
            "yes,082 123 4567,Nomsa, KH-1 \n"
            "yes,082 123 4568,Thandi,100\n"      # taken at this site
            "yes,082 123 4569,Zodwa,KH-1\n"      # repeats line 2's
            "yes,082 123 4570,Lerato,\n"
            f"yes,082 123 4571,Long,{'9' * 31}\n")
    report = import_csv(io.BytesIO(text.encode()), default_country="ZA", actor="test", site_id=two_sites[0])
    assert report.imported == 2
    reasons = {r["line"]: r["reason"] for r in report.refused}
    assert set(reasons) == {3, 4, 6}
    assert all(reason.startswith("clinic_number: ") for reason in reasons.values()), reasons
    numbers = dict(db.session.execute(select(Client.name, Client.clinic_number)).all())
    assert numbers["Nomsa"] == "KH-1" and numbers["Lerato"] is None
    assert "Thandi" not in numbers and "Zodwa" not in numbers
