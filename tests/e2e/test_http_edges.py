"""Edges of the HTTP surface: how many fields a request may carry, how deep its JSON may nest,
what a spent budget costs, and answers a function cannot give (1xx statuses, odd numbers)."""
import concurrent.futures
import json

import pytest
import requests

from conftest import FIXTURES, Sprocket

PROJECT = FIXTURES / "http-edges-project"
APP_FUNCTION = "/api/crm-extensibility/execution/internal/v3/action/function/123"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FIELD_LIMIT = 1000   # docs/limits.md
DEPTH_LIMIT = 1000   # docs/limits.md


def distinct_fields(count):
    return "&".join(f"f{i}=v{i}" for i in range(count))


def nested_arrays(depth):
    return "[" * depth + "]" * depth


@pytest.fixture(scope="module")
def edges(tmp_path_factory):
    s = Sprocket([PROJECT], data_dir=tmp_path_factory.mktemp("edges-data"))
    yield s
    s.stop()


def answer(s, response):
    """Asks the `answer` function to give `response` back as its answer."""
    return s.post("/hs/serverless/edges/answer", data=json.dumps({"response": response}),
                  headers={"Content-Type": "application/json"})


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


def test_json_body_nested_to_the_limit_reaches_the_function_and_deeper_is_400(edges):
    r = edges.post("/hs/serverless/edges/fields", data=nested_arrays(DEPTH_LIMIT), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["bodyDepth"] == DEPTH_LIMIT
    r = edges.post("/hs/serverless/edges/fields", data=nested_arrays(DEPTH_LIMIT + 1), headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["category"] == "INVALID_REQUEST"
    assert "the limit is 1000 levels" in r.json()["message"]


def test_app_function_parameters_nested_to_the_limit_are_passed_and_deeper_is_400(edges):
    def call(parameters_depth):
        # the body object is one level, so parameters may nest one level less than the limit
        body = '{"serverlessFunction": "depth", "parameters": %s}' % nested_arrays(parameters_depth)
        return edges.post(APP_FUNCTION, data=body, headers={"Content-Type": "application/json"})

    r = call(DEPTH_LIMIT - 1)
    assert r.status_code == 200, r.text
    assert r.json()["response"] == {"parametersDepth": DEPTH_LIMIT - 1}
    r = call(DEPTH_LIMIT)
    assert r.status_code == 400
    assert r.json()["errors"][0]["subCategory"] == "ServerlessActionExecutionError.INVALID_REQUEST"
    assert "the limit is 1000 levels" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("status", [100, 101, "101", 199], ids=["100", "101", "101-as-text", "199"])
def test_informational_status_from_a_function_is_an_invalid_response(edges, status):
    r = answer(edges, {"statusCode": status, "body": "switching?"})
    assert r.status_code == 500
    assert r.json()["category"] == "INVALID_RESPONSE"
    assert "informational (1xx)" in r.json()["message"]
    edges.wait_for_log(r"ERROR  Invalid response: statusCode %s is an informational \(1xx\) status" % int(status))


def test_numeric_header_values_are_written_as_javascript_writes_them(edges):
    r = answer(edges, {"statusCode": 200, "headers": {
        "X-Huge": 1e300, "X-Whole": 1e20, "X-Negative": -1e20, "X-Tiny": 1.5e-7, "X-Fraction": 0.25, "X-Int": 42}})
    assert r.status_code == 200, r.text
    assert r.headers["X-Huge"] == "1e+300"
    assert r.headers["X-Whole"] == "100000000000000000000"
    assert r.headers["X-Negative"] == "-100000000000000000000"
    assert r.headers["X-Tiny"] == "1.5e-7"
    assert r.headers["X-Fraction"] == "0.25"
    assert r.headers["X-Int"] == "42"


def test_a_spent_budget_is_refused_before_the_request_is_parsed(start_sprocket, tmp_path):
    config = tmp_path / "sprocket.json"
    config.write_text(json.dumps({"limits": {"executionsPerMinute": 1}}))
    s = start_sprocket([PROJECT], "--config", config)
    json_type = {"Content-Type": "application/json"}
    # a request refused as invalid is not an execution: the budget is still whole afterwards
    assert s.post("/hs/serverless/edges/fields", data="{nope", headers=json_type).status_code == 400
    first = s.get("/hs/serverless/edges/fields?a=1")
    assert first.status_code == 200
    # the budget is spent: what would have been a 400 is now a 429, decided before the body is parsed
    for r in (s.post("/hs/serverless/edges/fields", data="{nope", headers=json_type),
              s.post("/hs/serverless/edges/fields", data=nested_arrays(DEPTH_LIMIT + 1), headers=json_type),
              s.post(APP_FUNCTION, data=json.dumps({"serverlessFunction": "no-such-function"}), headers=json_type)):
        assert r.status_code == 429, r.text
        assert "1 executions per minute" in r.text
