"""The OpenAPI description (gateway/interfaces/api/openapi.yaml) against the routes the app really has.

The fuzzer (tests/faults/test_api_fuzz.py) checks the answers against it; here,
that it lists every /api/v1 route and method and nothing else, that it is served
as JSON without a token, and that its references resolve.
"""
import re

import yaml

from gateway.interfaces.api import openapi_document
from tests.conftest import ROOT

PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _described() -> set[tuple[str, str]]:
    spec = openapi_document()
    assert [server["url"] for server in spec["servers"]] == [PREFIX]
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item
            if method != "parameters"}


def _registered(app) -> set[tuple[str, str]]:
    """(method, path) of every rule under /api/v1, written as OpenAPI writes it: ``/clients/{client_id}``."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX):])
        found |= {(method, path) for method in rule.methods - IGNORED_METHODS}
    return found


def test_every_api_route_is_described_and_nothing_else(app):
    registered, described = _registered(app), _described()
    assert registered - described == set(), "routes missing from gateway/interfaces/api/openapi.yaml"
    assert described - registered == set(), "described in gateway/interfaces/api/openapi.yaml but not routes of the app"
    assert ("POST", "/clients/import") in registered and ("GET", "/openapi.json") in registered


def test_path_parameters_are_those_of_the_routes(app):
    spec = openapi_document()
    for path, item in spec["paths"].items():
        named = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            if method == "parameters":
                continue
            parameters = [p for p in item.get("parameters", []) + op.get("parameters", [])]
            in_path = {_deref(spec, p)["name"] for p in parameters if _deref(spec, p)["in"] == "path"}
            assert in_path == named, (method, path)


def test_every_operation_has_an_id_and_says_how_it_fails():
    spec = openapi_document()
    ids = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            ids.append(op["operationId"])
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            if op.get("security") != []:
                assert "401" in op["responses"], f"{method} {path} needs a token but lists no 401"
            if "requestBody" in op:
                assert "400" in op["responses"] and "422" in op["responses"], (method, path)
    assert len(ids) == len(set(ids))


def test_every_reference_resolves():
    spec = openapi_document()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                _deref(spec, node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert spec["openapi"].startswith("3.1.")


def test_the_description_is_served_as_json_without_a_token(client):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200 and response.is_json
    served = response.get_json()
    assert served == yaml.safe_load((ROOT / "gateway" / "interfaces" / "api" / "openapi.yaml").read_text(encoding="utf-8"))
    assert served["security"] == [{"bearer": []}]
    assert served["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Every other route still wants one.
    assert client.get(f"{PREFIX}/clients/1").status_code == 401


def test_docs_point_to_the_description():
    assert "/api/v1/openapi.json" in (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def _deref(spec, node):
    if "$ref" not in node:
        return node
    target = spec
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return target
