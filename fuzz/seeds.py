#!/usr/bin/python3
"""Writes the seed corpora under fuzz/corpus/ (committed): one folder per target, a few
inputs each that reach its interesting paths. Run again after changing a format; libFuzzer
grows its own corpus from these in build-fuzz/corpus/ (never committed)."""
import glob
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)


def write(target, name, data):
    folder = os.path.join(ROOT, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def frame(obj):
    payload = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return struct.pack("<I", len(payload)) + payload


# serverless.json: the examples, both formats, and the shapes validation cares about.
for i, path in enumerate(sorted(glob.glob(os.path.join(REPO, "examples/**/serverless.json"), recursive=True)
                             + sorted(glob.glob(os.path.join(REPO, "tests/e2e/fixtures/**/serverless.json"), recursive=True))[:12])):
    with open(path, "rb") as f:
        write("serverless_json", f"file-{i}", f.read())
write("serverless_json", "design-manager", json.dumps({
    "runtime": "nodejs18.x", "version": "1.0", "environment": {"A": "1"}, "secrets": ["TOKEN"],
    "endpoints": {"hello": {"method": ["GET", "POST"], "file": "hello.js", "environment": {"B": "2"}, "secrets": ["KEY"]},
                  "events/update": {"method": "PATCH", "file": "lib/util.js"}}}, indent=2))
write("serverless_json", "project", json.dumps({
    "appFunctions": {"quote": {"file": "index.js", "secrets": ["S"], "endpoint": {"path": "quotes/get", "method": ["GET"]}},
                     "serverlessFunction": {"file": "a.js"}}}, indent=2))
write("serverless_json", "bad-method", '{"endpoints": {"x": {"method": "FETCH", "file": "a.js"}}}')
write("serverless_json", "escape", '{"endpoints": {"x": {"method": "GET", "file": "../../etc/passwd"}}}')
write("serverless_json", "syntax", '{"endpoints": {"x": {"method": "GET",, "file": "a.js"}\n')
write("serverless_json", "unicode", '{"endpoints": {"caf\\u00e9~1/\\ud83d\\ude00": {"method": "GET", "file": "b.js"}}}')

# actions.json
for i, path in enumerate(sorted(glob.glob(os.path.join(REPO, "examples/**/actions.json"), recursive=True))):
    with open(path, "rb") as f:
        write("actions_json", f"file-{i}", f.read())
write("actions_json", "both", json.dumps({"actions": {
    "enrich": {"language": "node", "file": "enrich.js", "secrets": ["API"], "inputFields": ["email", "firstname"],
               "outputFields": {"score": {"type": "number"}, "tier": {"type": "enumeration", "options": ["a", "b"]},
                                "when": {"type": "datetime"}, "phone": {"type": "phone_number"}}},
    "score": {"language": "python", "file": "score.py"}}}, indent=2))
write("actions_json", "outside", '{"actions": {"x": {"language": "node", "file": "../x.js"}}}')
write("actions_json", "many-inputs", json.dumps({"actions": {"x": {"language": "node", "file": "a.js",
                                                                     "inputFields": [f"f{i}" for i in range(51)]}}}))

# requests, as they arrive on the socket
CRLF = "\r\n"
def request(lines, body=""):
    return CRLF.join(lines) + CRLF + CRLF + body
write("request_context", "get", request(["GET /_hcms/api/hello?a=1&a=2&b=x+y%20z HTTP/1.1", "Host: example.com",
                                         "Cookie: s=1; t=2", "X-Forwarded-For: 1.2.3.4, 5.6.7.8", "User-Agent: curl"]))
body = json.dumps({"name": "Ada", "nested": {"list": [1, 2.5, True, None, "\u00e9"]}})
write("request_context", "json", request(["POST /hs/serverless/a/b HTTP/1.1", "Host: h", "Content-Type: application/json; charset=utf-8",
                                          f"Content-Length: {len(body)}"], body))
form = "a=1&b=%41%42&c=&d"
write("request_context", "form", request(["PUT /_hcms/api/hello/ HTTP/1.1", "Host: h", "Content-Type: application/x-www-form-urlencoded",
                                          f"Content-Length: {len(form)}"], form))
chunked = "5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"
write("request_context", "chunked", request(["POST /_hcms/api/hello HTTP/1.1", "Host: h", "Content-Type: application/json",
                                             "Transfer-Encoding: chunked"], chunked))
app = json.dumps({"serverlessFunction": "serverlessFunction", "parameters": {"x": [1]}, "event": {"type": "click"},
                  "propertiesToSend": ["email"]})
write("request_context", "app", request(["POST /api/crm-extensibility/execution/internal/v3/action/function/12 HTTP/1.1", "Host: h",
                                         "Content-Type: application/json", f"Content-Length: {len(app)}"], app))
write("request_context", "smuggle", request(["POST /_hcms/api/hello HTTP/1.1", "Host: h", "Content-Length: 3",
                                             "Transfer-Encoding: chunked"], "0\r\n\r\n"))
write("request_context", "dots", request(["GET /_hcms/api/%2e%2e/hello HTTP/1.1", "Host: h"]))
write("request_context", "deep", request(["POST /_hcms/api/hello HTTP/1.1", "Host: h", "Content-Type: application/json",
                                          "Content-Length: 40"], "[" * 20 + "]" * 20))

# function answers, after the guest's normalisation (docs/protocol.md)
for name, answer in {
    "json": {"statusCode": 201, "body": {"a": 1}, "bodyType": "json", "headers": {"X-A": "1", "Content-Type": "application/json"}},
    "text": {"statusCode": 200, "body": "hello", "bodyType": "text"},
    "redirect": {"statusCode": 302, "headers": {"Location": "https://example.com/"}, "bodyType": "none"},
    "cookies": {"statusCode": 200, "setCookie": ["a=1; HttpOnly", "b=2"], "multiValueHeaders": {"X-M": ["1", "2"]}, "bodyType": "none"},
    "base64": {"statusCode": 200, "body": "aGVsbG8=", "bodyType": "base64", "headers": {"Content-Type": "image/png"}},
    "split": {"statusCode": 200, "headers": {"X-A": "1\r\nSet-Cookie: evil=1"}, "body": "x", "bodyType": "text"},
    "framing": {"statusCode": 200, "headers": {"Transfer-Encoding": "chunked", "Content-Length": "5"}, "body": "x", "bodyType": "text"},
    "bad-status": {"statusCode": 101, "bodyType": "none"},
    "numbers": {"statusCode": 200.0, "headers": {"X-N": 1.5, "X-B": True}, "bodyType": "none"},
}.items():
    write("response_mapping", name, json.dumps(answer))

# .env
write("dotenv", "plain", "A=1\nexport B = two # comment\nC=\"multi\nline\"\nD='x'\nE=`y`\n# c\nF=\"a\\nb\"\r\n=novalue\n")

# deploy archives (deploy/archive.cpp)
def archive(entries):
    out = b"SPROCKET-ARCHIVE-1\n"
    for name, mode, data in entries:
        n = name.encode()
        out += struct.pack("<I", len(n)) + n + struct.pack("<I", mode) + struct.pack("<Q", len(data)) + data
    return out
write("archive", "folder", archive([("serverless.json", 0o644, b'{"endpoints":{}}'), ("lib/a.js", 0o755, b"exports.main=()=>1"),
                                     ("package.json", 0o644, b"{}")]))
write("archive", "escape", archive([("../x", 0o644, b"x")]))
write("archive", "absolute", archive([("/tmp/x", 0o644, b"x")]))
write("archive", "truncated", archive([("a.js", 0o644, b"abc")])[:-2])

# frames from a worker (docs/protocol.md), the first byte the size of the pieces they arrive in
result = {"type": "result", "id": 1, "logs": [[1733140000000, "INFO", "hi"]], "maxRssKb": 51234, "droppedLogBytes": 0,
          "response": {"statusCode": 200, "body": "x", "bodyType": "text"}}
action_result = {"type": "result", "id": 1, "valueJson": json.dumps({"outputFields": {
    "score": 3, "label": "x", "ok": True, "when": 1733140000000, "day": "2026-12-03", "tier": "gold", "phone": "+1 555",
    "hs_execution_state": "SUCCESS"}})}
thrown = {"type": "result", "id": 1, "error": {"name": "Error", "message": "m", "stack": "Error: m", "retry": "HTTP 429"}}
log = {"type": "log", "logs": [[1, "WARN", "w"], [2, "ERROR", "e"]]}
for name, frames in {"result": [result], "action": [action_result], "thrown": [thrown], "log-then-result": [log, result],
                     "deep": [b'{"type":"result","id":1,"valueJson":"' + b"[" * 50 + b'"}']}.items():
    stream = b"".join(frame(f) for f in frames)
    write("worker_frames", name, bytes([7]) + stream)
    write("worker_frames", name + "-bytewise", bytes([0]) + stream)

# the live worker: the first byte is the scenario (0 starting, 1 generic, 2 one invocation
# running, 3 three pipelined); after \xff\xfe\xfd\xfc the rest goes to stdout
ready, loaded = frame({"type": "ready"}), frame({"type": "loaded"})
write("worker", "starting-load", bytes([0]) + ready + loaded + frame(log))
write("worker", "starting-load-error", bytes([0]) + ready + frame({"type": "load_error", "message": "SyntaxError"}))
write("worker", "generic", bytes([1]) + ready + frame(log) + b"\xff\xfe\xfd\xfcstray line\n")
write("worker", "one", bytes([2]) + frame(result))
write("worker", "one-oom", bytes([2]) + frame(dict(result, maxRssKb=200000)))
write("worker", "one-exiting", bytes([2]) + frame({"type": "exiting", "running": False}))
r2, r3 = dict(result, id=2), dict(result, id=3)
write("worker", "three", bytes([3]) + frame(result) + frame(r2) + frame(r3) + b"\xff\xfe\xfd\xfcout\nmore")
write("worker", "three-wrong-id", bytes([3]) + frame(r2))
write("worker", "three-exiting-mid", bytes([3]) + frame(result) + frame({"type": "exiting", "running": True}))
print("seeds written under", os.path.join(ROOT, "corpus"))
