"""The examples/ folder, served as `make serve` serves it: both formats, the context object and
the response contract, over real HTTP."""
import json

import requests

from conftest import EXAMPLES, wait_for


def test_callback_style_hello(examples):
    r = examples.get("/_hcms/api/hello")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.json() == {"message": "Hello, world", "accountId": 123456}
    assert len(r.headers["X-Request-Id"]) == 36
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_context_has_repeated_query_params_headers_and_endpoint(examples):
    r = examples.get("/_hcms/api/echo?a=1&a=2&b=x+y&empty=", headers={"X-Custom-Header": "abc"})
    assert r.status_code == 200
    ctx = r.json()
    assert ctx["params"] == {"a": ["1", "2"], "b": ["x y"], "empty": [""]}
    assert ctx["method"] == "GET"
    assert ctx["endpoint"] == "echo"
    assert ctx["accountId"] == 123456
    assert ctx["contact"] is None
    assert ctx["body"] == {}
    assert ctx["headers"]["x-custom-header"] == "abc"
    assert ctx["headers"]["true-client-ip"] == "127.0.0.1"
    assert ctx["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert set(ctx["limits"]) == {"executionsRemaining", "timeRemaining"}
    # endpoint-level environment overrides the top-level value
    assert ctx["greeting"] == "Hi from echo"


def test_form_post_fields_become_params(examples):
    r = examples.post("/_hcms/api/echo?src=query", data={"name": "Ada Lovelace", "src": "form"})
    ctx = r.json()
    assert ctx["params"] == {"src": ["query", "form"], "name": ["Ada Lovelace"]}
    assert ctx["body"] == {}
    assert ctx["method"] == "POST"


def test_json_body_is_parsed(examples):
    r = examples.request("PUT", "/_hcms/api/echo", json={"list": [1, 2.5, "three"], "nested": {"ok": True}})
    assert r.json()["body"] == {"list": [1, 2.5, "three"], "nested": {"ok": True}}
    arr = examples.request("DELETE", "/_hcms/api/echo", json=[1, 2, 3])
    assert arr.json()["body"] == [1, 2, 3]


def test_malformed_json_gets_400_naming_the_position(examples):
    r = examples.post("/_hcms/api/echo", data='{\n  "a": tru\n}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error"
    assert "line 2" in body["message"]
    assert body["requestId"] == r.headers["X-Request-Id"]


def test_nested_endpoint_name(examples):
    r = examples.post("/_hcms/api/events/update", json={"id": 7, "title": "launch"})
    assert r.status_code == 200
    assert r.json() == {"updated": 7, "title": "launch"}
    bad = examples.post("/_hcms/api/events/update", json={})
    assert bad.status_code == 400


def test_cookies_via_multi_value_headers(examples):
    r = examples.post("/_hcms/api/login", json={"user": "ada"}, allow_redirects=False)
    assert r.status_code == 200
    cookies = r.raw.headers.getlist("Set-Cookie")
    assert cookies == ["session=ada; Path=/; HttpOnly", "theme=dark; Path=/; Max-Age=3600"]


def test_redirect(examples):
    r = examples.get("/_hcms/api/go?to=/somewhere", allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == "/somewhere"


def test_string_body_is_html(examples):
    r = examples.get("/_hcms/api/page")
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>sprocket example site</h1>" in r.text


def test_module_state_persists_in_a_warm_instance(examples):
    first = examples.get("/_hcms/api/counter").json()
    second = examples.get("/_hcms/api/counter").json()
    assert second["pid"] == first["pid"]
    assert second["invocations"] == first["invocations"] + 1


def test_preloaded_axios_and_lodash_resolve_without_installing(examples):
    r = examples.get("/_hcms/api/libraries?words=Hello+Big+World")
    assert r.status_code == 200
    body = r.json()
    assert body["kebab"] == "hello-big-world"
    assert body["axiosVersion"].count(".") == 2


def test_thrown_error_is_a_500_with_request_id_and_stack_in_logs(examples):
    r = examples.get("/_hcms/api/fail")
    assert r.status_code == 500
    body = r.json()
    request_id = r.headers["X-Request-Id"]
    assert body["requestId"] == request_id
    assert "something went wrong" not in json.dumps(body)  # details stay in the logs
    examples.wait_for_log(r"ERROR  Error: something went wrong in fail\.js")
    examples.wait_for_log(r"at exports\.main \(.*fail\.js:4")


def test_unknown_path_is_404_json(examples):
    r = examples.get("/_hcms/api/does-not-exist")
    assert r.status_code == 404
    assert r.json()["category"] == "NOT_FOUND"
    assert r.headers["X-Request-Id"]


def test_wrong_method_is_405_with_allow(examples):
    r = examples.request("DELETE", "/_hcms/api/hello")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert r.json()["category"] == "METHOD_NOT_ALLOWED"


def test_head_and_trailing_slash(examples):
    r = examples.request("HEAD", "/_hcms/api/hello/")
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["Content-Length"]) > 0


def test_cors_preflight(examples):
    r = examples.request("OPTIONS", "/_hcms/api/echo", headers={
        "Origin": "https://example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-thing"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, x-thing"


def test_project_endpoint_async_return(examples):
    r = examples.get("/hs/serverless/fetch-quote?index=1")
    assert r.status_code == 200
    assert r.json() == {"q": "Make it work, make it right, make it fast.", "a": "Kent Beck"}
    assert r.headers["Content-Type"] == "application/json"


def test_project_es_module_function(examples):
    r = examples.post("/hs/serverless/quotes/submit", json={"q": "Ship it."})
    assert r.status_code == 201
    assert r.json() == {"saved": {"q": "Ship it.", "a": "anonymous"}}


APP_FUNCTION = "/api/crm-extensibility/execution/internal/v3/action/function/123"


def test_app_function_call(examples):
    r = examples.post(APP_FUNCTION, json={
        "serverlessFunction": "quoteCard", "parameters": {"index": 2},
        "propertiesToSend": {"firstname": "Ada"}, "event": {"type": "SERVERLESS_ACTION_HOOK"}})
    assert r.status_code == 200
    body = r.json()
    assert body["logId"] == r.headers["X-Request-Id"]
    assert body["response"] == {
        "quote": {"q": "Premature optimization is the root of all evil.", "a": "Donald Knuth"},
        "for": "Ada", "portalId": 123456}


def test_unknown_app_function_gets_hubspot_error_body(examples):
    r = examples.post(APP_FUNCTION, json={"serverlessFunction": "nope"})
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["subCategory"] == "AppFunctionsExecutorErrorType.SERVERLESS_FUNCTION_NOT_FOUND"
    assert body["correlationId"] == r.headers["X-Request-Id"]


def test_execution_log_lines_have_hubspot_format(examples):
    r = examples.get("/_hcms/api/hello")
    assert r.status_code == 200
    examples.wait_for_log(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z - SUCCESS - GET /_hcms/api/hello - Execution Time: \d+ms")
    examples.wait_for_log(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z    INFO   hello called from python-requests")


def test_example_actions_run_queued(examples):
    ids = []
    for name in ("score-contact", "domain-of"):
        r = examples.admin("POST", f"/api/v1/actions/{name}/executions",
                           json={"inputFields": {"email": "ada@Example.com", "annualrevenue": "2500000"}})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])

    def finished(ident):
        e = examples.admin("GET", f"/api/v1/actions/executions/{ident}").json()
        return e if e["state"] in ("succeeded", "failed") else None

    score = wait_for(lambda: finished(ids[0]), message="score-contact to finish")
    domain = wait_for(lambda: finished(ids[1]), message="domain-of to finish")
    assert score["state"] == "succeeded" and score["outputs"]["tier"] == "gold", score
    assert score["outputs"]["scoredOn"] % 86_400_000 == 0
    assert domain["state"] == "succeeded" and domain["outputs"] == {"domain": "example.com"}, domain
