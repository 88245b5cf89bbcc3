"""The Programme page: numbers and trends per site, the lists behind them (scoped, masked), CSV exports."""
from __future__ import annotations

import csv
import io

from sqlalchemy import select

from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import AuditEntry
from gateway.core.phones import masked


def _month() -> str:
    return clock.today_utc().strftime("%Y-%m")


def test_the_page_for_each_role(as_role, seeded, sites):
    za, ke = sites
    nurse = as_role("nurse")
    page = nurse.text("/console/programme")
    assert "Programme" in page and "ART pick-ups due" in page and "<svg" in page
    assert "Did the reminder help?" in page and "observational comparison, not a trial" in page
    assert f'<option value="{ke.id}"' not in page  # not her site
    assert nurse.get(f"/console/programme?site={ke.id}").status_code == 404
    assert nurse.get(f"/console/programme/art_refills_due?site={ke.id}").status_code == 404
    admin = as_role("admin")
    page = admin.text(f"/console/programme?site={ke.id}&period={_month()}")
    assert "Programme at Kisumu Clinic" in page
    assert admin.get("/console/programme?period=2026-13").status_code == 422
    assert "is in the future" in admin.get("/console/programme?period=2999-01").get_data(as_text=True)
    assert admin.get("/console/programme/no_such_code").status_code == 404


def test_the_list_behind_a_number_is_scoped_and_masked(as_role, seeded, sites):
    za, ke = sites
    nurse = as_role("nurse")
    page = nurse.text(f"/console/programme/clients_active?period={_month()}")
    hostile, long, kenyan = seeded["hostile"], seeded["long"], seeded["kenyan"]
    assert f'/console/clients/{hostile.id}"' in page and f'/console/clients/{long.id}"' in page
    assert f'/console/clients/{kenyan.id}"' not in page  # another site's client
    assert hostile.phone not in page and masked(hostile.phone) in page  # masked as elsewhere
    assert "<script>alert" not in page  # her name is escaped
    admin = as_role("admin")
    assert f'/console/clients/{kenyan.id}"' in admin.text(f"/console/programme/clients_active?period={_month()}")


def test_csv_exports(as_role, seeded, sites):
    za, _ = sites
    nurse = as_role("nurse")
    response = nurse.get(f"/console/programme/clients_active.csv?site={za.id}&period={_month()}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["Client id"] for r in rows} == {str(seeded["hostile"].id), str(seeded["long"].id)}
    assert all("*" in r["Phone"] for r in rows) and {r["Site"] for r in rows} == {za.name}
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "indicator.list_exported"))
    assert entry.changes == {"indicator": "clients_active", "period": _month(), "rows": 2}
    response = nurse.get(f"/console/programme.csv?period={_month()}")
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0][:2] == ["month", "clients_active"] and len(table) == 14 and table[-1][0] == _month()
    assert table[-1][1] == "2"  # her two clients


def test_admins_set_a_site_org_unit_and_see_the_last_push(as_role, sites, people):
    from gateway.core.models import Dhis2Push, Site

    za, _ = sites
    admin = as_role("admin")
    response = admin.post(f"/console/sites/{za.id}/org-unit", {"org_unit": "OuKhaye0001"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Site, za.id).dhis2_org_unit == "OuKhaye0001"
    assert 'value="OuKhaye0001"' in admin.text("/console/sites")
    admin.post(f"/console/sites/{za.id}/org-unit", {"org_unit": "not an id"})
    db.session.expire_all()
    assert db.session.get(Site, za.id).dhis2_org_unit == "OuKhaye0001"  # refused, unchanged
    assert "not a DHIS2 id" in admin.text("/console/sites")
    assert as_role("nurse").post(f"/console/sites/{za.id}/org-unit", {"org_unit": "OuKhaye0002"}).status_code == 404
    assert "Nothing pushed yet" in admin.text("/console/ops")
    db.session.add(Dhis2Push(period="2026-10", actor="cli", status="conflicts", values_sent=4, imported=1,
                             updated=0, ignored=3, deleted=0,
                             conflicts=[{"object": "DeClients01", "value": "Data element not found",
                                         "data_element": ["DeClients01"], "org_unit": ["OuKhaye0001"]}]))
    db.session.commit()
    page = admin.text("/console/ops")
    assert "Last push: 2026-10" in page and "imported 1, updated 0, ignored 3" in page
    assert "DeClients01" in page and "Data element not found" in page


def test_months_before_and_after(as_role, seeded):
    page = as_role("nurse").text("/console/programme?period=2026-01")
    assert "period=2025-12" in page and "period=2026-02" in page
    page = as_role("nurse").text("/console/programme")
    assert "→</a>" not in page.split("<div class=\"cards\">")[0]  # no month after this one
