"""Fault drill: the JSON API fuzzed from its own OpenAPI description (gateway/interfaces/api/openapi.yaml).

For each operation the description lists, requests go through Flask's test
client with a valid token (an admin's or a coordinator's; now and then none
or a wrong one): bodies the description calls valid (from its schemas by
``from_schema`` below, half of them nudged towards values the server accepts:
real phones, dates near today, this world's infants and sites), and
malformed ones: a field of the wrong type, a required field missing, an
unknown field, a string over its limit, a body over MAX_JSON_BYTES, not JSON,
not UTF-8, an unpaired surrogate, nested too deep, not an object, the wrong
content type; for the CSV import, files that cannot be read as a whole.

Every answer: never a 5xx; a status the description lists for the operation;
a 2xx body that matches the described response; every 4xx JSON in the
described error shape, naming the field a malformed body broke; a schema-valid
JSON body never a 400; a malformed one always refused; and a refused request
changed nothing (row counts of every table and a checksum of the clients,
infants, doses, appointments, reminders and audit tables, before and after).
"""
from __future__ import annotations

import copy
import csv
import datetime as dt
import functools
import hashlib
import io
import json
import os
import time

import jsonschema
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.core import clock
from gateway.interfaces.api import openapi_document
from gateway.clients.importer import COLUMNS
from gateway.adapters.database import db
from gateway.schedules import schedule_for

NOW = dt.datetime(2026, 3, 3, 8, 0)  # UTC; 10:00 in Johannesburg
TODAY = NOW.date()  # the same date in every zone the gateway serves at this hour
PREFIX = "/api/v1"
# Examples per operation: ~7 operations, a few seconds each on either store.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "250"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
# Tables compared whole before and after a refused request; every other table by its row count.
CHECKSUMMED = ("clients", "infants", "doses_given", "appointments", "reminders", "reminder_appointments",
               "audit_log", "tasks", "sites")
NOT_COMPARED = ("api_tokens",)  # last_used_at moves on an authenticated request, by design

SPEC = openapi_document()


# ---------------------------------------------------------------- the description, resolved


def _resolve(node, seen=()):
    """``node`` with every ``$ref`` inlined (siblings of a ``$ref`` kept), annotations dropped."""
    if isinstance(node, list):
        return [_resolve(item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/") and ref not in seen, ref
        target = SPEC
        for part in ref[2:].split("/"):
            target = target[part]
        merged = {**_resolve(target, seen + (ref,)), **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, seen)
    return {k: _resolve(v, seen) for k, v in node.items() if k not in ("description", "example", "summary")}


def operations():
    """(operation id, method, path template, operation) for every operation but the description itself."""
    found = []
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if method == "parameters" or op["operationId"] == "openapi":
                continue
            op = {**op, "parameters": item.get("parameters", []) + op.get("parameters", [])}
            found.append((op["operationId"], method.upper(), path, _resolve(op)))
    return found


OPERATIONS = operations()
ERROR_SCHEMA = _resolve(SPEC["components"]["schemas"]["Error"])


@functools.cache
def _validator(schema_json: str):
    return jsonschema.Draft202012Validator(json.loads(schema_json), format_checker=jsonschema.FormatChecker())


def validate(instance, schema) -> None:
    errors = sorted(_validator(json.dumps(schema, sort_keys=True)).iter_errors(instance), key=str)
    assert not errors, f"{instance!r:.300} does not match the description: {errors[0].message:.300}"


def json_schema(op) -> dict | None:
    content = (op.get("requestBody") or {}).get("content", {})
    return content.get("application/json", {}).get("schema")


# ---------------------------------------------------------------- values from a schema

# The JSON Schema keywords the description's request schemas use, and so all ``from_schema`` knows.
# (hypothesis-jsonschema 0.23.1, the last release, uses Hypothesis internals that 6.170 no longer has.)
GENERATED = {"type", "enum", "const", "anyOf", "oneOf", "properties", "required", "additionalProperties",
             "minProperties", "items", "maxItems", "minItems", "minimum", "maximum", "minLength", "maxLength",
             "pattern", "format"}


def from_schema(schema: dict):
    """A strategy for instances of ``schema`` (resolved; the keywords in GENERATED only)."""
    unknown = set(schema) - GENERATED
    assert not unknown, f"from_schema does not know {unknown}: teach it, or the drill generates wrong bodies"
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([from_schema(sub) for sub in schema.get("anyOf", []) + schema.get("oneOf", [])])
    types = schema.get("type")
    if isinstance(types, list):
        return st.one_of([from_schema({**schema, "type": t}) for t in types])
    if types == "null":
        return st.none()
    if types == "boolean":
        return st.booleans()
    if types == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        edges = [v for v in (lo, hi) if v is not None]
        return st.one_of(st.integers(lo, hi), st.sampled_from(edges)) if edges else st.integers()
    if types == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        if schema.get("format") == "date":
            return st.dates().map(dt.date.isoformat)  # year 1 to 9999: most of them out of range
        if "pattern" in schema:
            return st.from_regex(schema["pattern"]).filter(lambda v: lo <= len(v) <= (hi or len(v)))
        return st.text(min_size=lo, max_size=hi if hi is not None else 40)
    if types == "array":
        return st.lists(from_schema(schema["items"]), min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 4), 4))
    if types == "object":
        return _objects(schema)
    raise AssertionError(f"from_schema cannot generate {schema}")


@st.composite
def _objects(draw, schema: dict):
    properties, required = schema.get("properties", {}), schema.get("required", [])
    optional = [k for k in properties if k not in required]
    chosen = draw(st.lists(st.sampled_from(optional), unique=True, min_size=min(len(optional), max(
        0, schema.get("minProperties", 0) - len(required))))) if optional else []
    value = {key: draw(from_schema(properties[key])) for key in list(required) + chosen}
    extra = schema.get("additionalProperties", True)
    if isinstance(extra, dict):  # a map (doses_given): any keys, each value of that schema
        for key in draw(st.lists(st.text(min_size=1, max_size=12), max_size=3, unique=True)):
            value.setdefault(key, draw(from_schema(extra)))
    elif extra is not False and draw(st.booleans()):
        value.setdefault("note", draw(st.text(max_size=8)))  # another key, where the schema allows one
    return value


# ---------------------------------------------------------------- the world the requests act on


class World:
    """Two sites, an admin and a coordinator of the first, three clients (one with an infant), their ids."""

    def __init__(self, client, make_user):
        self.http = client
        self.admin = make_user("admin")[1]
        self.coordinator = make_user("coordinator", sites=("Fuzz North",))[1]
        make_user("coordinator", sites=("Fuzz South",))  # a second site, not the coordinator's
        from gateway.core.models import Site

        self.site_ids = list(db.session.scalars(sa.select(Site.id).order_by(Site.id)))
        self.client_ids, self.infant_ids = [], []
        for body in ({"phone": "+27821110001", "site_id": self.site_ids[0], "language": "sw",
                      "art": {"last_dispensed": "2026-02-10", "days_supply": 30},
                      "infants": [{"date_of_birth": "2026-01-05", "hiv_exposed": True, "name": "Lwazi"}]},
                     {"phone": "+27821110002", "site_id": self.site_ids[1], "programme": "pregnant",
                      "expected_delivery_date": "2026-06-01"},
                     {"phone": "+27821110003"}):
            answer = client.post(f"{PREFIX}/clients", json={"consent": True, **body}, headers=self.admin)
            assert answer.status_code == 201, answer.get_json()
            self.client_ids.append(answer.get_json()["id"])
            self.infant_ids += [i["id"] for i in answer.get_json()["infants"]]
        self.phones = ["+27821110001", "0821110002", "082 111 0003", "0027821110001"]
        self.doses = sorted({d.name for d in schedule_for("ZA").doses})

    def token(self, who: str) -> dict:
        return {"admin": self.admin, "coordinator": self.coordinator, "none": {},
                "wrong": {"Authorization": "Bearer gw_not-a-token"}}[who]


@pytest.fixture
def world(app, client, make_user):
    with clock.frozen(NOW):
        yield World(client, make_user)


def snapshot() -> dict[str, object]:
    """Row counts of every table, and a checksum of the rows of CHECKSUMMED: cheap at a fuzzer's sizes."""
    seen = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name in NOT_COMPARED:
                continue
            if table.name in CHECKSUMMED:
                rows = sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)))
                seen[table.name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16])
            else:
                seen[table.name] = conn.scalar(sa.select(sa.func.count()).select_from(table))
    return seen


# ---------------------------------------------------------------- values the server accepts, near enough


def _days(lo: int, hi: int):
    return st.integers(lo, hi).map(lambda n: (TODAY + dt.timedelta(days=n)).isoformat())


def _phones():
    digits = st.tuples(st.sampled_from("2345"), st.integers(0, 9_999_999))
    return st.one_of(
        digits.map(lambda d: f"+278{d[0]}{d[1]:07d}"),
        digits.map(lambda d: f"0027 8{d[0]} {d[1]:07d}"),
        st.sampled_from(["+27821110001", "082 111 0002"]),  # enrolled already: a 409
    )


def anchors(world: World) -> dict:
    return {
        "phone": _phones(),
        "country": st.sampled_from(["ZA", "KE", None]),
        "date": _days(-90, 0),
        "last_dispensed": _days(-120, 0),
        "date_of_birth": _days(-700, 0),
        "expected_delivery_date": _days(-30, 280),
        "infant_id": st.sampled_from(world.infant_ids),
        "dose": st.sampled_from(world.doses),
        "site_id": st.sampled_from(world.site_ids + [None]),
        "days_supply": st.sampled_from([30, 60, 90]),
        # The care cascade's events: values a coordinator would send, so that some are accepted.
        "reason": st.sampled_from(["transferred_out", "died", "other"]),  # reasons a client and an infant share
        "result": st.sampled_from(["negative", "positive", "indeterminate"]),
        "test": st.sampled_from(["PCR birth", "PCR 10 weeks", "PCR 6 months"]),
        "next_visit": _days(1, 60),
    }


def anchored(draw, value, near: dict):
    """``value`` with some of its fields (at any depth) replaced by plausible ones."""
    if isinstance(value, list):
        return [anchored(draw, item, near) for item in value]
    if not isinstance(value, dict):
        return value
    return {k: (draw(near[k]) if k in near and draw(st.integers(0, 4)) else anchored(draw, v, near))
            for k, v in value.items()}


# ---------------------------------------------------------------- malformed bodies


def _types(schema: dict) -> set[str]:
    """The JSON types a (resolved) schema admits."""
    if "type" in schema:
        return set([schema["type"]] if isinstance(schema["type"], str) else schema["type"])
    if "const" in schema:
        return {_type_of(schema["const"])}
    if "enum" in schema:
        return {_type_of(v) for v in schema["enum"]}
    found = set()
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, []):
            found |= _types(sub)
    return found or {"string", "integer", "number", "boolean", "array", "object", "null"}


def _type_of(value) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}[type(value)]


WRONG = {
    "string": st.text(max_size=8),
    "integer": st.integers(-10**6, 10**6),
    "number": st.floats(-1e6, 1e6).filter(lambda x: x != int(x)),
    "boolean": st.booleans(),
    "array": st.lists(st.integers(0, 9), max_size=2),
    "object": st.dictionaries(st.sampled_from("abc"), st.integers(0, 9), max_size=2),
}


def wrong_types(schema: dict) -> list[str]:
    """JSON types the field refuses: not its own, not null (optional fields take it), and no string
    for a number or a yes/no (the CSV's lenient readings take "9" and "yes")."""
    own = _types(schema)
    return sorted(set(WRONG) - own - ({"string"} if own & {"integer", "boolean"} else set()))


def _branch(schema: dict, value) -> dict | None:
    """The branch of an anyOf/oneOf that ``value`` (an object or list) took."""
    if "anyOf" not in schema and "oneOf" not in schema:
        return schema
    for sub in schema.get("anyOf", []) + schema.get("oneOf", []):
        if _type_of(value) in _types(sub) and (
                not isinstance(value, dict) or "const" not in sub.get("properties", {}).get("type", {})
                or sub["properties"]["type"]["const"] == value.get("type")):
            return sub
    return None


def fields_of(value, schema: dict, path=()):
    """(path, schema) of every field present in ``value``, at any depth, as the description has it."""
    schema = _branch(schema, value) or {}
    if isinstance(value, dict):
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key)
            if sub is not None:
                yield (path + (key,), sub)
                yield from fields_of(item, sub, path + (key,))
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield (path + (i,), schema["items"])
            yield from fields_of(item, schema["items"], path + (i,))


def objects_of(value, schema: dict, path=()):
    """(path, schema) of ``value`` and of every object inside it, with the branch each took."""
    branch = _branch(schema, value) or {}
    if isinstance(value, dict):
        yield path, branch
    for sub_path, sub in fields_of(value, schema, path):
        if len(sub_path) == len(path) + 1:
            yield from objects_of(_get(value, sub_path[len(path):]), sub, sub_path)


def name(path) -> str:
    """How the server names a field: ``art.days_supply``, ``infants[0].date_of_birth``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _get(value, path):
    for part in path:
        value = value[part]
    return value


def _set(value, path, new):
    _get(value, path[:-1])[path[-1]] = new


def _delete(value, path):
    del _get(value, path[:-1])[path[-1]]


@st.composite
def malformed(draw, op, world: World):
    """(raw body, content type, field the answer must name or None, kind): one thing broken."""
    schema = json_schema(op)
    body = copy.deepcopy(draw(from_schema(schema)))
    body = anchored(draw, body, anchors(world))
    fields = [(path, sub) for path, sub in fields_of(body, schema)]
    objects = list(objects_of(body, schema))
    kinds = ["not_json", "utf8", "surrogate", "deep", "not_object", "content_type", "too_large"]
    wrongable = [(p, s) for p, s in fields if wrong_types(s)]
    if wrongable:
        kinds += ["wrong_type"] * 4
    required = [(p, key) for p, s in objects for key in s.get("required", []) if key in _get(body, p)]
    if required:
        kinds += ["missing"] * 2
    closed = [p for p, s in objects if s.get("additionalProperties") is False]
    if closed:
        kinds += ["extra"] * 2
    long = [(p, s) for p, s in fields if "maxLength" in s and isinstance(_get(body, p), str)]
    if long:
        kinds += ["too_long"]
    kind = draw(st.sampled_from(kinds))
    content_type, named = "application/json", "body"
    if kind == "wrong_type":
        path, sub = draw(st.sampled_from(wrongable))
        _set(body, path, draw(WRONG[draw(st.sampled_from(wrong_types(sub)))]))
        named = name(path)
    elif kind == "missing":
        path, key = draw(st.sampled_from(required))
        _delete(body, path + (key,))
        named = name(path + (key,))
    elif kind == "extra":
        path = draw(st.sampled_from(closed))
        known = set(_get(body, path))
        key = draw(st.from_regex(r"x_[a-z][a-z_]{0,20}", fullmatch=True).filter(lambda k: k not in known))
        _get(body, path)[key] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=5)))
        named = name(path + (key,))
    elif kind == "too_long":
        path, sub = draw(st.sampled_from(long))
        _set(body, path, "x" * (sub["maxLength"] + draw(st.integers(1, 2000))))
        named = name(path)
    raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode()
    if kind == "not_json":
        raw = draw(st.one_of(st.sampled_from([b"", b"{", b"{'phone': 1}", b"null,", b"[1,", b"{\"a\":}", b"\x00"]),
                             st.binary(max_size=40)).filter(_not_json_object))
    elif kind == "utf8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"])) + raw[at:]
    elif kind == "surrogate":  # "\ud800" alone: JSON, but no text a database can keep
        texts = [p for p, s in fields if "string" in _types(s) and isinstance(_get(body, p), str)]
        if texts:
            _set(body, draw(st.sampled_from(texts)), "a\ud800b")
            raw = json.dumps(body).encode()
        else:
            raw = raw[:-1] + (b', ' if len(body) else b'') + b'"x_note": "a\\ud800b"}'
    elif kind == "deep":
        depth = draw(st.integers(3_000, 20_000))  # past the parser's recursion limit
        raw = b'{"phone": ' + b"[" * depth + b"]" * depth + b"}"
    elif kind == "not_object":
        raw = json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=5),
                                        st.none(), st.booleans()))).encode()
    elif kind == "content_type":
        content_type = draw(st.sampled_from(["text/plain", "text/csv", "application/x-www-form-urlencoded",
                                             "application/xml", "multipart/form-data; boundary=x", None]))
    elif kind == "too_large":
        raw = raw[:-1] + (b', ' if len(body) else b'') + b'"x_pad": "' + b"y" * 70_000 + b'"}'
    return raw, content_type, named, kind


def _not_json_object(raw: bytes) -> bool:
    try:
        return not isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return True


@st.composite
def valid(draw, op, world: World):
    schema = json_schema(op)
    body = draw(from_schema(schema))
    if draw(st.booleans()):
        body = anchored(draw, body, anchors(world))
    validate(body, schema)  # still what the description calls valid
    return json.dumps(body, ensure_ascii=draw(st.booleans())).encode(), "application/json", None, "valid"


# ---------------------------------------------------------------- CSV files for the import


def _csv(header, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


@st.composite
def csv_files(draw, world: World, who: str):
    """(raw, content type, query, named, kind): a file the import reads (rows good or bad), or one it refuses."""
    columns = ["phone"] + draw(st.lists(st.sampled_from(COLUMNS[1:]), unique=True, max_size=6))
    columns = draw(st.permutations(columns))
    value = {
        "phone": st.one_of(_phones(), st.text(max_size=12)),
        "country": st.sampled_from(["ZA", "ke", "", "XX"]),
        "language": st.sampled_from(["en", "sw", "", "fr", "zu"]),
        "reminder_hour": st.sampled_from(["9", "18", "", "25", "x"]),
        "art_last_dispensed": st.one_of(_days(-120, 0), st.just("2025-02-31")),
        "art_days_supply": st.sampled_from(["30", "90", "", "0"]),
        "expected_delivery_date": _days(-90, 300),
        "infant_date_of_birth": _days(-2000, 10),
        "infant_hiv_exposed": st.sampled_from(["yes", "no", "", "maybe"]),
    }
    rows = draw(st.lists(st.tuples(*[value.get(c, st.text(max_size=15)) for c in columns]), max_size=6))
    raw = _csv(columns, rows)
    if draw(st.booleans()):
        raw = b"\xef\xbb\xbf" + raw  # Excel's byte-order mark
    site = draw(st.sampled_from([None] + world.site_ids))
    query = {} if site is None else {"site_id": str(site)}
    kind = draw(st.sampled_from(["good"] * 4 + ["content_type", "empty", "unknown_column", "no_phone", "repeated",
                                                 "header_not_utf8", "site_id", "junk", "bad_rows"]))
    content_type, named = draw(st.sampled_from(["text/csv", "application/csv", "text/plain; charset=utf-8"])), None
    if kind == "content_type":
        content_type, named = draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded", None])), \
            "body"
    elif kind == "empty":
        raw, named = draw(st.sampled_from([(b"", "file"), (b"\xef\xbb\xbf", "header"), (b"\n\n", "header")]))
    elif kind == "unknown_column":
        raw, named = _csv(columns + [draw(st.sampled_from(["surname", "PHONE2", "x"]))], rows), "header"
    elif kind == "no_phone":
        raw, named = _csv([c for c in columns if c != "phone"] or ["name"], []), "header"
    elif kind == "repeated":
        raw, named = _csv(columns + ["phone"], []), "header"
    elif kind == "header_not_utf8":
        raw, named = b"ph\xffone,name\n0821234567,x\n", "line 1"
    elif kind == "site_id":
        query = {"site_id": draw(st.sampled_from(["abc", "0", "-3", "1.5", "99999", str(10**30), ""]))}
        named = "site_id" if query["site_id"] else None
    elif kind == "junk":
        raw = draw(st.binary(max_size=200))
    elif kind == "bad_rows":  # rows that cannot be read: a 200 that refuses them, not a refused request
        raw = raw + b'"unclosed,\n' + b"\xff\xfe,\n" + b"y" * 1500 + b"\n"
    if who == "coordinator" and kind != "content_type" and query.get("site_id") == str(world.site_ids[1]):
        named = "site_id"  # not one of theirs: checked before the file is read
    return raw, content_type, query, named, kind


# ---------------------------------------------------------------- one request, judged


def ask(world: World, method: str, url: str, who: str, raw=None, content_type=None, query=None):
    headers = dict(world.token(who))
    if content_type is not None:
        headers["Content-Type"] = content_type
    return world.http.open(url, method=method, data=raw, headers=headers, query_string=query)


def judge(op, method, response, before, *, named=None, must_refuse=False, schema_valid=False, who="admin"):
    """The checks every answer gets (the module docstring)."""
    status = response.status_code
    body = response.get_data()
    assert status < 500, f"{method} {response.request.url}: {status} {body[:500]!r}"
    assert str(status) in op["responses"], f"{status} is not a status the description lists: {body[:300]!r}"
    if status >= 400:
        assert response.is_json, f"a {status} that is not JSON: {body[:200]!r}"
        problem = response.get_json()
        validate(problem, ERROR_SCHEMA)
        after = snapshot()
        assert after == before, f"a refused request ({status} {problem}) changed " + str(
            {t: (before[t], after[t]) for t in before if before[t] != after[t]})
        if status == 401:
            assert who in ("none", "wrong") and "Authorization" in problem["fields"]
        # A control character anywhere is refused at the edge, before the fields are read: that 422 names the
        # fields holding one (and only those), not the other problem the body may also have.
        at_the_edge = status == 422 and set(problem["fields"].values()) == {"must not contain control characters"}
        if status in (400, 422) and named is not None and not at_the_edge:
            assert named in problem["fields"], f"{status} does not name {named!r}: {problem}"
        if status in (400, 422):
            assert problem["fields"], f"a {status} that names no field: {problem}"
        if schema_valid and who in ("admin", "coordinator"):
            assert status != 400, f"a body the description calls valid was refused as malformed: {problem}"
    else:
        assert who in ("admin", "coordinator"), f"{status} without a valid token"
        assert not must_refuse, f"a malformed request was accepted ({status}): {body[:300]!r}"
        described = op["responses"][str(status)]["content"]["application/json"]["schema"]
        validate(response.get_json(), described)
    return status


def _client_id(world: World):
    """Mostly the first client (a coordinator's, with an infant: most events can apply), now and then none."""
    return st.sampled_from(world.client_ids[:1] * 8 + world.client_ids[1:] * 2 + [0, 999_999, 2**31, 10**30])


def _who():
    return st.sampled_from(["admin"] * 12 + ["coordinator"] * 6 + ["none", "wrong"])


# ---------------------------------------------------------------- the drills


BODY_OPERATIONS = [o for o in OPERATIONS if json_schema(o[3]) is not None]
READ_OPERATIONS = [o for o in OPERATIONS if o[1] == "GET"]


def test_the_drills_cover_every_operation():
    # erase_client destroys the world the drills share: tests/privacy/test_erasure.py covers it instead.
    covered = {o[0] for o in BODY_OPERATIONS + READ_OPERATIONS} | {"import_clients", "erase_client"}
    assert covered == {o[0] for o in OPERATIONS}


@pytest.mark.parametrize("op_id,method,path,op", BODY_OPERATIONS, ids=[o[0] for o in BODY_OPERATIONS])
def test_json_bodies_valid_and_malformed(world, op_id, method, path, op):
    seen: dict[str, int] = {}

    @FUZZ
    @given(data=st.data())
    def run(data):
        who = data.draw(_who(), label="who")
        client_id = data.draw(_client_id(world), label="client_id")
        raw, content_type, named, kind = data.draw(st.one_of(valid(op, world), malformed(op, world)), label="body")
        url = PREFIX + path.replace("{client_id}", str(client_id))
        before = snapshot()
        response = ask(world, method, url, who, raw, content_type)
        status = judge(op, method, response, before, named=named, must_refuse=kind != "valid",
                       schema_valid=kind == "valid", who=who)
        seen[f"{kind}:{status}"] = seen.get(f"{kind}:{status}", 0) + 1

    started = time.monotonic()
    with clock.frozen(NOW):
        run()
    print(f"\n{op_id}: {sum(seen.values())} requests in {time.monotonic() - started:.1f} s: "
          f"{dict(sorted(seen.items()))}")
    assert any(k.startswith("valid:2") for k in seen), "no request was ever accepted: the drill tests little"


@pytest.mark.parametrize("op_id,method,path,op", READ_OPERATIONS, ids=[o[0] for o in READ_OPERATIONS])
def test_reads_with_any_id_or_query(world, op_id, method, path, op):
    seen: dict[int, int] = {}

    @FUZZ
    @given(data=st.data())
    def run(data):
        who = data.draw(_who(), label="who")
        url = PREFIX + path.replace("{client_id}", str(data.draw(_client_id(world), label="client_id")))
        query = {}
        for parameter in op["parameters"]:
            if parameter["in"] == "query" and data.draw(st.integers(0, 5)) > 0:
                likely = {"period": ["2026-03", "2026-02", "2025-03", "2026-04", "2026-13", "2026-3", ""],
                          "site_id": [str(i) for i in world.site_ids] + ["0", "-1", "9" * 12, ""]}.get(
                    parameter["name"], world.phones * 3 + ["ZA", "za", "KE", "", "+", "0" * 40])
                query[parameter["name"]] = data.draw(st.one_of(st.sampled_from(likely), st.text(max_size=40)))
        before = snapshot()
        response = ask(world, method, url, who, query=query)
        status = judge(op, method, response, before, who=who)
        if status == 422:  # a refusal names what it refuses: one of the call's own query parameters,
            # or any parameter holding a control character (refused at the edge, by its name)
            named = response.get_json()["fields"]
            assert set(named) <= ({"period", "site_id"} if op_id == "get_indicators" else {"phone"}) \
                or set(named.values()) == {"must not contain control characters"}
        seen[status] = seen.get(status, 0) + 1

    started = time.monotonic()
    with clock.frozen(NOW):
        run()
    print(f"\n{op_id}: {sum(seen.values())} requests in {time.monotonic() - started:.1f} s: "
          f"{dict(sorted(seen.items()))}")
    assert 200 in seen


def test_csv_import_valid_and_malformed(world):
    (op,) = [o[3] for o in OPERATIONS if o[0] == "import_clients"]
    seen: dict[str, int] = {}

    @FUZZ
    @given(data=st.data())
    def run(data):
        who = data.draw(_who(), label="who")
        raw, content_type, query, named, kind = data.draw(csv_files(world, who), label="file")
        before = snapshot()
        response = ask(world, "POST", f"{PREFIX}/clients/import", who, raw, content_type, query)
        status = judge(op, "POST", response, before, named=named,
                       must_refuse=named is not None, who=who)
        if status == 200:
            report = response.get_json()
            assert report["rows"] == (report["imported"] + report["skipped"] + report["pending_approval"]
                                      + report["refused_count"]), report
        seen[f"{kind}:{status}"] = seen.get(f"{kind}:{status}", 0) + 1

    started = time.monotonic()
    with clock.frozen(NOW):
        run()
    print(f"\nimport_clients: {sum(seen.values())} requests in {time.monotonic() - started:.1f} s: "
          f"{dict(sorted(seen.items()))}")
    assert any(k.startswith("good:200") for k in seen)
