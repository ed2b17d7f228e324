"""Edges of the HTTP surface: how many fields a request may carry."""
import concurrent.futures
import json

import pytest
import requests

from conftest import FIXTURES, Sprocket

PROJECT = FIXTURES / "http-edges-project"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FIELD_LIMIT = 1000   # docs/limits.md


def distinct_fields(count):
    return "&".join(f"f{i}=v{i}" for i in range(count))


@pytest.fixture(scope="module")
def edges(tmp_path_factory):
    s = Sprocket([PROJECT], data_dir=tmp_path_factory.mktemp("edges-data"))
    yield s
    s.stop()


def test_form_fields_up_to_the_limit_are_served_and_one_more_is_413(edges):
    r = edges.post("/hs/serverless/edges/fields", data=distinct_fields(FIELD_LIMIT), headers=FORM)
    assert r.status_code == 200, r.text
    assert r.json()["names"] == FIELD_LIMIT
    r = edges.post("/hs/serverless/edges/fields?a=1", data=distinct_fields(FIELD_LIMIT), headers=FORM)
    assert r.status_code == 413
    assert r.json()["category"] == "TOO_MANY_PARAMETERS"
    assert "the limit is 1000 fields per request" in r.json()["message"]
    assert r.json()["requestId"] == r.headers["X-Request-Id"]


def test_a_100k_field_form_is_refused_and_other_connections_are_served(edges):
    huge = distinct_fields(100_000)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        refused = pool.submit(requests.post, edges.url + "/hs/serverless/edges/fields", data=huge, headers=FORM, timeout=30)
        # a separate connection, while or after the big form is handled
        other = requests.get(edges.url + "/hs/serverless/edges/fields?a=1", timeout=30)
        assert other.status_code == 200
        assert other.json()["values"] == 1
        r = refused.result()
    assert r.status_code == 413
    assert r.json()["category"] == "TOO_MANY_PARAMETERS"
    assert edges.get("/hs/serverless/edges/fields?b=2").json()["values"] == 1
