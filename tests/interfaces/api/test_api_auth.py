"""Bearer tokens: missing, wrong, revoked; coordinators see only their sites."""
from gateway import users
from gateway.adapters.database import db
from gateway.core.models import ApiToken


def test_missing_token_is_401(client):
    r = client.get("/api/v1/clients/1")
    assert r.status_code == 401 and "Authorization" in r.get_json()["fields"]
    r = client.get("/api/v1/clients/1", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_wrong_token_is_401(client, admin_headers):
    assert client.get("/api/v1/clients/1", headers={"Authorization": "Bearer gw_wrong"}).status_code == 401
    token = admin_headers["Authorization"].split()[1]
    tampered = {"Authorization": "Bearer " + token[:-1] + ("A" if token[-1] != "A" else "B")}
    assert client.get("/api/v1/clients/1", headers=tampered).status_code == 401


def test_tokens_are_stored_hashed(app, make_user):
    user, headers = make_user("admin")
    token = headers["Authorization"].split()[1]
    row = db.session.query(ApiToken).filter_by(user_id=user.id).one()
    assert token not in (row.token_hash, row.prefix) and len(row.token_hash) == 64


def test_revoked_token_is_401(client, make_user):
    user, headers = make_user("admin")
    assert client.get("/api/v1/clients/1", headers=headers).status_code == 404  # authenticated, no client
    users.revoke_tokens(user, "test")
    db.session.commit()
    assert client.get("/api/v1/clients/1", headers=headers).status_code == 401


def test_inactive_user_token_is_401(client, make_user):
    user, headers = make_user("admin")
    user.active = False
    db.session.commit()
    assert client.get("/api/v1/clients/1", headers=headers).status_code == 401


def test_coordinators_see_only_their_sites(client, make_user):
    _, north = make_user("coordinator", sites=["North clinic"])
    _, south = make_user("coordinator", sites=["South clinic"])
    _, admin = make_user("admin")
    r = client.post("/api/v1/clients", json={"consent": True, "phone": "0821234567"}, headers=north)
    assert r.status_code == 201
    cid = r.get_json()["id"]
    assert client.get(f"/api/v1/clients/{cid}", headers=north).status_code == 200
    assert client.get(f"/api/v1/clients/{cid}", headers=admin).status_code == 200
    assert client.get(f"/api/v1/clients/{cid}", headers=south).status_code == 404
    assert client.patch(f"/api/v1/clients/{cid}", json={"language": "st"}, headers=south).status_code == 404
    assert client.get("/api/v1/clients", query_string={"phone": "0821234567"},
                      headers=south).get_json()["clients"] == []
    # ...and cannot put a client into someone else's site.
    south_site = client.get(f"/api/v1/clients/{cid}", headers=north).get_json()["site_id"] + 1
    r = client.post("/api/v1/clients", json={"consent": True, "phone": "0831112222", "site_id": south_site}, headers=north)
    assert r.status_code == 422 and "site_id" in r.get_json()["fields"]


def test_coordinator_without_site_cannot_enrol(client, make_user):
    _, headers = make_user("coordinator")
    r = client.post("/api/v1/clients", json={"consent": True, "phone": "0821234567"}, headers=headers)
    assert r.status_code == 422 and "site_id" in r.get_json()["fields"]


def test_a_deactivated_then_reactivated_user_s_token_stays_revoked(client, make_user):
    from gateway.interfaces.console import actions

    user, headers = make_user("admin")
    actions.update_user(user, "test", name=None, role="admin", active=False, site_ids=[])
    db.session.commit()
    assert client.get("/api/v1/clients/1", headers=headers).status_code == 401
    actions.update_user(user, "test", name=None, role="admin", active=True, site_ids=[])
    db.session.commit()
    assert client.get("/api/v1/clients/1", headers=headers).status_code == 401
    assert all(token.revoked_at is not None for token in user.tokens)
