from gateway import create_app


def test_healthz_ok(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "database": "ok", "redis": "ok", "workers": 0}


def test_healthz_reports_an_unreachable_redis(app, settings):
    broken = create_app(settings.replace(redis_url="redis://127.0.0.1:1/0"))
    r = broken.test_client().get("/healthz")
    assert r.status_code == 503
    body = r.get_json()
    assert body["status"] == "degraded" and body["database"] == "ok" and body["redis"].startswith("error")


def test_healthz_reports_an_unreachable_database(app, settings, tmp_path):
    broken = create_app(settings.replace(database_url=f"sqlite:///{tmp_path}/missing/dir/x.db"))
    r = broken.test_client().get("/healthz")
    assert r.status_code == 503 and r.get_json()["database"].startswith("error")


def test_start_page_names_the_service_code(client):
    r = client.get("/")
    assert r.status_code == 200 and b"*384*123#" in r.data
