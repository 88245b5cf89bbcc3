"""Bulk enrolment by CSV: through the CLI and the API, good rows, each kind of bad row, re-import."""
import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from gateway.clients.importer import CsvFileError, import_csv
from gateway.clients.sites import local_today
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Client, Infant

TODAY = local_today("ZA")  # the day the app reckons in (South Africa is on tomorrow after 22:00 UTC)
DOB = (TODAY - dt.timedelta(days=20)).isoformat()
FUTURE = (TODAY + dt.timedelta(days=5)).isoformat()

GOOD_AND_BAD = f"""consent,phone,country,language,name,art_last_dispensed,art_days_supply,infant_date_of_birth,infant_hiv_exposed
yes,082 123 4567,ZA,sw,Nomsa,{TODAY.isoformat()},30,{DOB},yes
yes,0712 345 678,KE,,Achieng,,,,
yes,011 123 4567,ZA,,Landline,,,,
yes,0831112222,ZA,,Bad date,2025-02-31,30,,
yes,0831113333,ZA,,Future baby,,,{FUTURE},
yes,0831114444,XX,,No country,,,,
yes,0831115555,ZA,,Zero supply,{TODAY.isoformat()},0,,
yes,0831116666,ZA,,Too,many,values,here,,,
yes,0831117777,ZA,,Maybe,,,{DOB},maybe
yes,+265 99 123 4567,MW,en,Chikondi,,,{DOB},no
"""


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def run(text: str | bytes, **kw):
    data = text.encode() if isinstance(text, str) else text
    return import_csv(io.BytesIO(data), default_country="ZA", actor="test", **kw)


def test_good_rows_are_imported_and_each_bad_row_is_reported_with_its_line(app):
    report = run(GOOD_AND_BAD)
    assert (report.rows, report.imported, report.skipped, report.refused_count) == (10, 3, 0, 7)
    reasons = {r["line"]: r["reason"] for r in report.refused}
    assert reasons[4].startswith("phone: not a mobile")
    assert reasons[5].startswith("art_last_dispensed: is not a date")
    assert reasons[6].startswith("infant_date_of_birth: must not be in the future")
    assert reasons[7].startswith("country: unknown")
    assert reasons[8].startswith("art_days_supply: must be between")
    assert "has 11 values but the header names 9 columns" in reasons[9]
    assert reasons[10].startswith("infant_hiv_exposed: must be true or false")
    phones = set(db.session.scalars(select(Client.phone)))
    assert phones == {"+27821234567", "+254712345678", "+265991234567"}
    nomsa = db.session.scalar(select(Client).where(Client.phone == "+27821234567"))
    assert (nomsa.language, nomsa.art_days_supply, nomsa.infants[0].hiv_exposed) == ("sw", 30, True)
    chikondi = db.session.scalar(select(Client).where(Client.phone == "+265991234567"))
    assert chikondi.infants[0].hiv_exposed is False and chikondi.country == "MW"
    assert count(AuditEntry) == 3


def test_reimporting_the_same_file_creates_no_duplicates(app):
    run(GOOD_AND_BAD)
    again = run(GOOD_AND_BAD)
    assert (again.imported, again.skipped, again.refused_count) == (0, 3, 7)
    assert count(Client) == 3 and count(Infant) == 2


def test_a_phone_repeated_inside_the_file_is_enrolled_once(app):
    report = run("phone,consent\n0821234567,yes\n+27821234567,yes\n082-123-4567,yes\n")
    assert (report.imported, report.skipped) == (1, 2)
    assert count(Client) == 1


def test_batches_commit_separately_and_progress_is_reported(app):
    rows = "".join(f"083{i:07d},yes\n" for i in range(120))
    seen = []
    report = run("phone,consent\n" + rows, batch_size=50, progress=seen.append)
    assert report.imported == 120 and count(Client) == 120
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == len(("phone,consent\n" + rows).encode())


def test_invalid_utf8_refuses_only_that_row(app):
    data = b"consent,phone,name\nyes,0821234567,Thandi\nyes,0831112222,\xff\xfe\nyes,0841112222,Lerato\n"
    report = run(data)
    assert report.imported == 2
    assert report.refused == [{"line": 3, "reason": "is not valid UTF-8 text (save the file as CSV UTF-8)",
                               "row": {"consent": "yes", "phone": "0831112222", "name": "\ufffd\ufffd"}}]


def test_quoted_newlines_keep_line_numbers_right(app):
    report = run('consent,phone,name\nyes,0821234567,"two\nlines"\nyes,not a phone,x\nyes,0831112222,"a, b"\n')
    assert report.imported == 1
    assert [(r["line"], r["reason"]) for r in report.refused] == [
        (2, "name: must not contain control characters"),
        (4, "phone: not a phone number (letters or symbols where digits belong)")]


def test_excel_bom_and_blank_lines_are_fine(app):
    report = run(b"\xef\xbb\xbfconsent,phone,name\r\nyes,0821234567,A\r\n\r\nyes,0831112222,B\r\n")
    assert (report.rows, report.imported, report.refused_count) == (2, 2, 0)


def test_the_day_she_started_art_is_read_from_its_column(app):
    report = run("phone,consent,art_last_dispensed,art_days_supply,art_started\n"
                 f"0821234567,yes,{TODAY.isoformat()},30,2019-05-01\n0831112222,yes,{TODAY.isoformat()},30,2030-01-01\n")
    assert report.imported == 1
    assert report.refused[0]["reason"].startswith("art_started: is after the last dispensing")
    assert db.session.scalar(select(Client.art_started)) == dt.date(2019, 5, 1)


def test_a_registers_closed_clients_are_imported_closed_and_planned_nothing(app):
    from gateway.appointments import plan_ahead
    from gateway.clients.sites import local_today
    from gateway.core.models import Reminder

    report = run("phone,consent,art_last_dispensed,art_days_supply,status,closed_reason\n"
                 f"0821234567,yes,{TODAY.isoformat()},30,closed,transferred_out\n"
                 f"0831112222,yes,{TODAY.isoformat()},30,,\n"
                 f"0841112222,yes,{TODAY.isoformat()},30,closed,\n"
                 f"0851112222,yes,{TODAY.isoformat()},30,active,died\n"
                 f"0721112222,yes,{TODAY.isoformat()},30,gone,\n")
    assert report.imported == 2
    reasons = {r["line"]: r["reason"] for r in report.refused}
    assert reasons == {4: "closed_reason: is required for a closed client",
                       5: "closed_reason: only for a closed client (status closed)",
                       6: "status: must be one of active, closed"}
    plan_ahead()
    closed = db.session.scalar(select(Client).where(Client.phone == "+27821234567"))
    assert (closed.status, closed.closed_reason, closed.closed_on) == ("closed", "transferred_out", local_today("ZA"))
    planned = set(db.session.scalars(select(Reminder.client_id)))
    assert planned and closed.id not in planned


def test_rows_without_consent_are_refused_naming_consent(app):
    report = run("phone,consent,hiv_status,infant_date_of_birth,infant_hiv_exposed\n"
                 f"0821234567,yes,unknown,,\n0831112222,,,,\n0841112222,no,,,\n"
                 f"0851112222,yes,negative,{DOB},yes\n0721234567,yes,,{DOB},\n")
    assert report.imported == 2
    reasons = {r["line"]: r["reason"] for r in report.refused}
    assert reasons[3].startswith("consent: is required") and reasons[4].startswith("consent: is required")
    assert reasons[5].startswith("hiv_status: cannot be negative")
    statuses = dict(db.session.execute(select(Client.phone, Client.hiv_status)).all())
    assert statuses == {"+27821234567": "unknown", "+27721234567": "positive"}


@pytest.mark.parametrize("text,field", [
    ("", "file"),
    ("name,language\nA,en\n", "header"),
    ("phone,shoe_size\n0821234567,5\n", "header"),
    ("phone,phone\n0821234567,0821234567\n", "header"),
])
def test_unreadable_files_are_refused_whole(app, text, field):
    with pytest.raises(CsvFileError) as info:
        run(text)
    assert field in info.value.fields
    assert count(Client) == 0


def test_api_import(client, make_user):
    user, headers = make_user("coordinator", sites=["North clinic"])
    r = client.post("/api/v1/clients/import", data=GOOD_AND_BAD.encode(), headers=headers, content_type="text/csv")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["imported"], body["refused_count"]) == (3, 7)
    assert {r["line"] for r in body["refused"]} == {4, 5, 6, 7, 8, 9, 10}
    # The coordinator's only site is where the new clients go.
    assert set(db.session.scalars(select(Client.site_id))) == {user.sites[0].id}


def test_api_import_refuses_other_content_types_and_bad_headers(client, admin_headers):
    r = client.post("/api/v1/clients/import", json={"phone": "0821234567"}, headers=admin_headers)
    assert r.status_code == 400 and "body" in r.get_json()["fields"]
    r = client.post("/api/v1/clients/import", data=b"nope\n1\n", headers=admin_headers, content_type="text/csv")
    assert r.status_code == 422 and "header" in r.get_json()["fields"]
    assert count(Client) == 0


def test_cli_import_shows_progress_and_writes_refused_report(app, runner, tmp_path):
    path = tmp_path / "register.csv"
    path.write_text(GOOD_AND_BAD)
    result = runner.invoke(args=["clients", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "10 rows: 3 imported, 0 already enrolled, 7 refused" in result.output
    assert "line 4: phone: not a mobile" in result.output
    report = (tmp_path / "register.refused.csv").read_text().splitlines()
    # The refused rows whole, as written, with a reason column last.
    assert report[0] == GOOD_AND_BAD.splitlines()[0] + ",reason" and len(report) == 8
    assert report[1].startswith("yes,011 123 4567,ZA,,Landline,,,,,phone: ")
    again = runner.invoke(args=["clients", "import", str(path)])
    assert "0 imported, 3 already enrolled" in again.output
    assert count(Client) == 3


def test_cli_import_bad_header_is_a_clear_error(app, runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("telephone\n0821234567\n")
    result = runner.invoke(args=["clients", "import", str(path)])
    assert result.exit_code != 0
    assert "unknown column 'telephone'" in result.output


def test_refused_rows_come_back_whole_and_the_corrected_file_imports(app, tmp_path):
    text = ("consent,phone,name,infant_date_of_birth\n"
            "yes,0821234567,Good,\n"
            "yes,0831112222,Bad baby,31/02/2025\n"
            "yes,not a phone,Nomvula,\n")
    refused = io.StringIO()
    report = run(text, refused_csv=refused)
    assert (report.imported, report.refused_count) == (1, 2)
    rows = refused.getvalue().splitlines()
    assert rows[0] == "consent,phone,name,infant_date_of_birth,reason"
    assert rows[1] == "yes,0831112222,Bad baby,31/02/2025,infant_date_of_birth: is not a date (YYYY-MM-DD): '31/02/2025'"
    assert rows[2].startswith("yes,not a phone,Nomvula,,phone: ")
    assert report.refused[0]["row"] == {"consent": "yes", "phone": "0831112222", "name": "Bad baby",
                                        "infant_date_of_birth": "31/02/2025"}
    # Corrected in place (the reason column left as it is), the file goes in again.
    fixed = refused.getvalue().replace("31/02/2025,", "28/02/2025,").replace("not a phone", "0841112222")
    again = run(fixed)
    assert (again.imported, again.refused_count) == (2, 0)
    baby = db.session.scalar(select(Infant).join(Client).where(Client.phone == "+27831112222"))
    assert baby.date_of_birth == dt.date(2025, 2, 28)


def test_dates_written_day_first_are_read_in_csv_only(app, client, admin_headers):
    dob = TODAY - dt.timedelta(days=20)
    report = run(f"consent,phone,art_last_dispensed,art_days_supply,infant_date_of_birth\n"
                 f"yes,0821234567,{TODAY:%d/%m/%Y},30,{dob.day}/{dob.month}/{dob.year}\n")
    assert report.imported == 1, report.refused
    mother = db.session.scalar(select(Client))
    assert mother.art_last_dispensed == TODAY and mother.infants[0].date_of_birth == dob
    r = client.post("/api/v1/clients", headers=admin_headers,
                    json={"phone": "0831112222", "infants": [{"date_of_birth": f"{dob:%d/%m/%Y}"}]})
    assert r.status_code == 422 and "infants[0].date_of_birth" in r.get_json()["fields"]


def test_csv_doses_given_and_up_to_date(app):
    dob = TODAY - dt.timedelta(days=120)
    given = dob + dt.timedelta(days=44)
    report = run("consent,phone,infant_date_of_birth,infant_doses_given,infant_up_to_date\n"
                 f"yes,0821234567,{dob.isoformat()},OPV1={given:%d/%m/%Y}; RV1={given.isoformat()},\n"
                 f"yes,0831112222,{dob.isoformat()},,yes\n"
                 f"yes,0841112222,{dob.isoformat()},Yellow fever={given.isoformat()},\n"
                 f"yes,0851112222,{dob.isoformat()},OPV1,\n")
    assert report.imported == 2
    reasons = [r["reason"] for r in report.refused]
    assert reasons[0].startswith("infant_doses_given Yellow fever: is not in this child's schedule")
    assert reasons[1].startswith("infant_doses_given: write NAME=DATE pairs")
    first = db.session.scalar(select(Infant).join(Client).where(Client.phone == "+27821234567"))
    assert {d.dose: d.given_on for d in first.doses} == {"OPV1": given, "RV1": given}
    second = db.session.scalar(select(Infant).join(Client).where(Client.phone == "+27831112222"))
    assert second.up_to_date_on == TODAY
