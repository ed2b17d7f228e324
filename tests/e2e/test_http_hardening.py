"""HTTP hardening (issue #18, item 2): requests built to break an HTTP server, sent to the real
node over real sockets: slow-loris, huge and numerous headers, smuggling through folded framing
headers, broken chunked bodies, NUL and invalid UTF-8 in paths, paths that try to walk to another
function or a file, 100,000-deep JSON, 1,000 pipelined requests, clients that reset mid-request and
mid-response. Each case gets the status docs/http-api.md gives it (with a JSON error body where
the node answers), and after each the node is still up and serves a normal request.

What test_hostile_clients.py, test_http_edges.py and test_lifecycle.py already cover (ambiguous
Transfer-Encoding / Content-Length combinations, raw invalid UTF-8 in a design-manager path,
1,001-deep JSON, the 6 MB limit, keep-alive timeouts of idle connections) is not repeated here."""
import contextlib
import json
import re
import socket
import struct
import threading
import time

import pytest

from conftest import (FIXTURES, HELLO, Sprocket, address, assert_normal_request_served, metric,
                      read_responses, status_kb, wait_for)

SERVED = [FIXTURES / "hostile-clients.functions",  # hello, big (5 MB), sleep
          FIXTURES / "hardening.functions",        # echo, public/page, secret
          FIXTURES / "hardening-project"]          # /hs/serverless/tools/echo and /admin, app function "nested"
HEADER_LIMIT = 64 * 1024               # docs/limits.md
CHUNK_EXTENSION_LIMIT = 16 * 1024      # docs/http-api.md
READ_BUFFER_LIMIT = HEADER_LIMIT + 64 * 1024  # a chunk-size line or a trailer section must fit in it


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    s = Sprocket(SERVED, data_dir=tmp_path_factory.mktemp("hardening-data"))
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def node_survives(request):
    """After each case: the node is still running and a new client is served."""
    yield
    s = request.node.funcargs.get("node")
    if s is not None:
        assert s.process.poll() is None, "the node exited:\n" + s.log()[-3000:]
        assert_normal_request_served(s)


def send_and_read(s, raw, timeout=10.0, count=None):
    """Sends `raw` on a new connection while reading what comes back: the node may answer (and
    close) long before a large request is all sent, and it must be read either way."""
    with socket.create_connection(address(s)) as sock:
        def send():
            with contextlib.suppress(OSError):  # closed by the node once it has answered
                sock.sendall(raw)
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        responses = read_responses(sock, timeout, count)
        sender.join(timeout)
        return responses


def only_response(responses):
    assert len(responses) == 1, f"expected one response and the close, got {[r[0] for r in responses]}"
    return responses[0]


def assert_error(response, status, category, message=None):
    """`response` is `status` with sprocket's JSON error body of `category`; returns the body."""
    code, headers, body = response
    assert code == status, (code, body[:300])
    assert headers["content-type"].startswith("application/json"), headers
    error = json.loads(body.decode("utf-8"))  # strict UTF-8, then JSON
    assert error["status"] == "error" and error["category"] == category, error
    assert error["requestId"] == headers["x-request-id"], (error, headers)
    if message:
        assert re.search(message, error["message"]), error
    return error


def invocations(s, name):
    """Executions of the function whose metrics label ends in `name`, whatever their status."""
    text = s.admin("GET", "/metrics").text
    pattern = re.compile(rf'^sprocket_invocations_total{{function="[^"]*/{re.escape(name)}",status="\d+"}} (\S+)$', re.M)
    return sum(float(n) for n in pattern.findall(text))


def reset(sock):
    """Closes `sock` with a TCP RST instead of a FIN (SO_LINGER on, 0 s)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def request(method, target, headers=b"", body=b"", close=True):
    """One request's bytes; `target` may be bytes, to carry what a str cannot."""
    target = target.encode("latin-1") if isinstance(target, str) else target
    head = method.encode() + b" " + target + b" HTTP/1.1\r\nHost: localhost\r\n"
    return head + (b"Connection: close\r\n" if close else b"") + headers + b"\r\n" + body


# --- slow-loris --------------------------------------------------------------------------------

TRICKLERS = 50
KEEP_ALIVE_S = 2


def test_slow_loris_connections_are_cut_at_the_keep_alive_timeout_while_others_are_served(start_sprocket):
    # Each connection sends its request one byte at a time, ~40 bytes a second: progress does not
    # buy time, the whole header must arrive within --keep-alive-timeout.
    s = start_sprocket(SERVED[:1], "--keep-alive-timeout", str(KEEP_ALIVE_S))
    header = request("GET", HELLO, b"X-Padding: " + b"p" * 400 + b"\r\n")
    socks = []
    for _ in range(TRICKLERS):
        sock = socket.create_connection(address(s))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one byte, one segment
        sock.setblocking(False)
        socks.append(sock)
    sent = [0] * TRICKLERS
    closed_after = [None] * TRICKLERS
    started = time.monotonic()
    deadline = started + KEEP_ALIVE_S + 3  # the sweep runs once a second; then slack for a busy machine
    served_meanwhile = 0
    try:
        rounds = 0
        while None in closed_after and time.monotonic() < deadline:
            for i, sock in enumerate(socks):
                if closed_after[i] is not None:
                    continue
                try:
                    answer = sock.recv(4096)
                    assert not answer, f"a request cut off mid-header was answered: {answer[:200]!r}"
                    closed_after[i] = time.monotonic() - started  # EOF: the node closed it
                    continue
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    closed_after[i] = time.monotonic() - started
                    continue
                try:
                    sent[i] += sock.send(header[sent[i]:sent[i] + 1])
                except BlockingIOError:
                    pass
                except OSError:
                    closed_after[i] = time.monotonic() - started
            rounds += 1
            if rounds % 10 == 0:
                assert_normal_request_served(s)
                served_meanwhile += 1
            time.sleep(0.02)  # paces the trickle; nothing waits on it
    finally:
        for sock in socks:
            sock.close()
    assert None not in closed_after, f"{closed_after.count(None)} of {TRICKLERS} trickling connections were still open " \
                                     f"{KEEP_ALIVE_S + 3} s after they started (--keep-alive-timeout {KEEP_ALIVE_S})"
    assert max(sent) < len(header), "a trickled header was completed: the test did not trickle slowly enough"
    assert min(closed_after) > KEEP_ALIVE_S - 0.5, f"closed before the timeout: {min(closed_after):.2f} s"
    assert min(sent) > 20, f"the trickle stalled: as little as {min(sent)} bytes sent"
    assert served_meanwhile >= 5
    print(f"{TRICKLERS} slow-loris connections closed {min(closed_after):.2f}-{max(closed_after):.2f} s after they began "
          f"({min(sent)}-{max(sent)} bytes of {len(header)} sent); {served_meanwhile} normal requests served meanwhile")
    assert_normal_request_served(s)


# --- header size and count ---------------------------------------------------------------------

def padded_request(fields_bytes):
    """A GET whose header fields (after the request line, up to and with the empty line) take
    `fields_bytes` bytes: what the 64 KiB limit counts."""
    fixed = b"Host: localhost\r\nConnection: close\r\nX-Pad: \r\n\r\n"
    return b"GET /_hcms/api/echo HTTP/1.1\r\n" + fixed.replace(b"X-Pad: ", b"X-Pad: " + b"p" * (fields_bytes - len(fixed)))


@pytest.mark.parametrize("fields_bytes, status", [
    (HEADER_LIMIT, 200),
    (HEADER_LIMIT + 1024, 431),  # where exactly Beast stops within the last read varies by a few bytes
    (1024 * 1024, 431),
], ids=["64KiB-served", "65KiB-431", "1MiB-431"])
def test_header_blocks_up_to_the_limit_are_served_and_larger_are_431(node, fields_bytes, status):
    raw = padded_request(fields_bytes)
    assert len(raw) > fields_bytes
    response = only_response(send_and_read(node, raw))
    if status == 200:
        assert response[0] == 200, response[2][:300]
    else:
        assert_error(response, 431, "HEADERS_TOO_LARGE", r"exceed 65536 bytes")


def test_10000_tiny_headers_within_the_limit_all_reach_the_function(node):
    def base36(n):
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"
        return digits[n] if n < 36 else base36(n // 36) + digits[n % 36]
    fields = b"".join(f"x-probe-{base36(i)}:\r\n".encode() if i < 10 else f"{base36(i)}:\r\n".encode() for i in range(10_000))
    raw = request("GET", "/_hcms/api/echo", fields)
    assert len(raw) < HEADER_LIMIT - 4096
    started = time.monotonic()
    code, _, body = only_response(send_and_read(node, raw))
    elapsed = time.monotonic() - started
    assert code == 200, body[:300]
    answer = json.loads(body)
    assert answer["headerCount"] >= 10_000 + 2, answer["headerCount"]  # and host, connection
    assert len(answer["headers"]) == 10
    assert elapsed < 5, f"10,000 headers took {elapsed:.2f} s"
    print(f"10,000 headers in {len(raw)} bytes: answered in {elapsed * 1000:.0f} ms")


def test_10000_ordinary_headers_are_431(node):
    fields = b"".join(b"X-Header-%05d: value\r\n" % i for i in range(10_000))
    assert_error(only_response(send_and_read(node, request("GET", "/_hcms/api/echo", fields))), 431, "HEADERS_TOO_LARGE")


# --- smuggling: folded framing headers ---------------------------------------------------------

# If the folded field were read as sprocket's unfolding reads it and a proxy in front read it
# otherwise, what follows is a second request to /_hcms/api/secret that the proxy never saw.
SMUGGLED = b"GET /_hcms/api/secret HTTP/1.1\r\nHost: localhost\r\n\r\n"


@pytest.mark.parametrize("framing, body", [
    (b"Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n" + SMUGGLED),
    (b"Transfer-Encoding:\r\n\tchunked\r\n", b"0\r\n\r\n" + SMUGGLED),
    (b"Transfer-Encoding: chunked\r\n , identity\r\n", b"0\r\n\r\n" + SMUGGLED),
    (b"Content-Length:\r\n 0\r\n", SMUGGLED),
    (b"Content-Length: 0\r\n 0\r\n", SMUGGLED),
    (b"Content-Length:\r\n 0\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + SMUGGLED),
], ids=["te-value-on-a-folded-line", "te-folded-with-a-tab", "te-continued", "cl-value-on-a-folded-line", "cl-continued",
        "folded-cl-with-te"])
def test_folded_framing_headers_are_400_and_nothing_behind_them_runs(node, framing, body):
    secret_before = invocations(node, "secret")
    raw = b"POST /_hcms/api/echo HTTP/1.1\r\nHost: localhost\r\n" + framing + b"\r\n" + body
    response = only_response(send_and_read(node, raw))  # and then the close: no second request is read
    assert_error(response, 400, "MALFORMED_REQUEST", r"Transfer-Encoding|Content-Length")
    assert invocations(node, "secret") == secret_before


def test_other_folded_headers_are_unfolded_with_a_space(node):
    code, _, body = only_response(send_and_read(node, request("GET", "/_hcms/api/echo", b"X-Probe-Folded: one\r\n two\r\n")))
    assert code == 200, body
    assert json.loads(body)["headers"] == {"x-probe-folded": "one two"}


# --- broken chunked bodies ---------------------------------------------------------------------

def chunked_post(chunks, path="/_hcms/api/echo", headers=b""):
    return request("POST", path, b"Transfer-Encoding: chunked\r\n" + headers, chunks)


@pytest.mark.parametrize("chunks, message", [
    (b"zz\r\nhello\r\n0\r\n\r\n", r"bad chunk"),
    (b"-5\r\nhello\r\n0\r\n\r\n", r"bad chunk"),
    (b"0x5\r\nhello\r\n0\r\n\r\n", r"bad chunk"),
    (b"10000000000000000\r\nhello\r\n0\r\n\r\n", r"bad chunk"),  # 2^64
    (b"f" * 40 + b"\r\nhello\r\n0\r\n\r\n", r"bad chunk"),
    (b"5\r\nhelloXX0\r\n\r\n", r"bad chunk"),  # no CRLF after the chunk's data
    (b"5\r\nhello0\r\n\r\n", r"bad chunk"),
    (b"5;" + b"a" * (CHUNK_EXTENSION_LIMIT + 1) + b"\r\nhello\r\n0\r\n\r\n", r"chunk extensions are over 16384 bytes"),
    (b"1;name=value\r\nx\r\n" * 2000 + b"0\r\n\r\n", r"chunk extensions are over 16384 bytes"),  # 22 KB in all
    (b"5;=value\r\nhello\r\n0\r\n\r\n", r"bad chunk extension"),
    (b"5; a b\r\nhello\r\n0\r\n\r\n", r"bad chunk extension"),
    (b"0" * (READ_BUFFER_LIMIT + 1) + b"5\r\nhello\r\n0\r\n\r\n", r"chunk-size line or the trailer section is over 131072 bytes"),
    (b"5\r\nhello\r\n0\r\nX-Trailer: " + b"t" * READ_BUFFER_LIMIT + b"\r\n\r\n", r"chunk-size line or the trailer section"),
], ids=["non-hex", "negative", "0x-prefix", "2^64", "40-hex-digits", "missing-crlf", "data-longer-than-size",
        "extension-over-16KiB", "extensions-over-16KiB-in-all", "extension-without-a-name", "extension-with-a-space",
        "size-line-over-buffer",
        "trailer-over-buffer"])
def test_bad_chunked_bodies_are_400(node, chunks, message):
    response = only_response(send_and_read(node, chunked_post(chunks)))
    assert_error(response, 400, "MALFORMED_REQUEST", message)


def test_an_endless_chunk_extension_is_refused_without_growing_the_node(node):
    # Beast holds a chunk-size line whole until its CRLF: without a bound on the read buffer one
    # connection grew the node by all it sent (300 MB in the measurement that found it).
    pid = node.process.pid
    before_kb = status_kb(pid, "VmHWM")
    with socket.create_connection(address(node)) as sock:
        sock.sendall(chunked_post(b"5;name=", headers=b""))
        sent = 0
        with contextlib.suppress(OSError):  # refused and closed by the node
            for _ in range(32):
                sock.sendall(b"v" * (1 << 20))
                sent += 1
        response = only_response(read_responses(sock, timeout=10))
    assert_error(response, 400, "MALFORMED_REQUEST", r"chunk")
    grown_kb = status_kb(pid, "VmHWM") - before_kb
    assert grown_kb < 8 * 1024, f"the node's peak memory grew by {grown_kb // 1024} MB ({sent} MB sent)"
    print(f"endless chunk extension: refused after at most {sent + 1} MB sent; the node's peak grew by {grown_kb} kB")


def test_chunk_extensions_within_the_limit_are_ignored_and_trailers_do_not_act_as_headers(node):
    # No Content-Type in the header: a trailer that claims JSON must not make the body JSON, and a
    # trailer field never reaches the function's headers (a proxy in front did not check it).
    chunks = b'7;name=value;quoted="a b"\r\n{"a":1}\r\n0;last\r\nContent-Type: application/json\r\nX-Probe-Trailer: injected\r\n\r\n'
    code, _, body = only_response(send_and_read(node, chunked_post(chunks)))
    assert code == 200, body
    answer = json.loads(body)
    assert answer["contentType"] is None, answer
    assert answer["headers"] == {}, answer
    assert answer["body"] == {}, answer  # not parsed as JSON
    # The same body, declared JSON in the header, is parsed.
    code, _, body = only_response(send_and_read(node, chunked_post(b'7\r\n{"a":1}\r\n0\r\n\r\n', headers=b"Content-Type: application/json\r\n")))
    assert json.loads(body)["body"] == {"a": 1}


# --- NUL and invalid UTF-8 in paths ------------------------------------------------------------

@pytest.mark.parametrize("target, status, category", [
    (b"/_hcms/api/ec\x00ho", 400, "MALFORMED_REQUEST"),
    (b"/hs/serverless/tools/ec\x00ho", 400, "MALFORMED_REQUEST"),
    (b"/_hcms/api/echo%00", 404, "NOT_FOUND"),
    (b"/_hcms/api/echo%00/../echo", 404, "NOT_FOUND"),
    (b"/hs/serverless/tools/echo%00", 404, "NOT_FOUND"),
    (b"/hs/serverless/tools/\xff\xfe", 404, "NOT_FOUND"),
    (b"/hs/serverless/tools/%ff%fe%c0%af", 404, "NOT_FOUND"),
    (b"/_hcms/api/\xed\xa0\x80", 404, "NOT_FOUND"),  # a UTF-16 surrogate, encoded
    (b"/_hcms/api/\xc0\xaf", 404, "NOT_FOUND"),  # an overlong '/'
], ids=["raw-nul-design-manager", "raw-nul-project", "pct-nul-design-manager", "pct-nul-then-dotdot", "pct-nul-project",
        "raw-ff-project", "pct-invalid-utf8-project", "surrogate", "overlong-slash"])
def test_nul_and_invalid_utf8_in_paths_get_a_json_error(node, target, status, category):
    error = assert_error(only_response(send_and_read(node, request("GET", target))), status, category)
    assert "\x00" not in error["message"]


def test_nul_in_a_header_value_is_400(node):
    assert_error(only_response(send_and_read(node, request("GET", "/_hcms/api/echo", b"X-Probe: a\x00b\r\n"))),
                 400, "MALFORMED_REQUEST")


# --- dot segments and encoded slashes in routes ------------------------------------------------

TRAVERSALS = [
    # From one design-manager endpoint to another.
    "/_hcms/api/public/../secret", "/_hcms/api/public/%2e%2e/secret", "/_hcms/api/public/%2E%2E/secret",
    "/_hcms/api/public/..%2fsecret", "/_hcms/api/public/..%2Fsecret", "/_hcms/api/public/%2e%2e%2fsecret",
    "/_hcms/api/public/%252e%252e%252fsecret", "/_hcms/api/public/..%5csecret", "/_hcms/api/public/%c0%ae%c0%ae/secret",
    "/_hcms/api/public/./../secret", "/_hcms/api/%2e/secret", "/_hcms/api/public/page/../../secret",
    # To the files of a functions folder, or the machine's.
    "/_hcms/api/../../serverless.json", "/_hcms/api/..%2f..%2fserverless.json", "/_hcms/api/%2e%2e%2fwhoami.js",
    "/_hcms/api/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", "/_hcms/api/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    # From one project endpoint to another, and across the two prefixes.
    "/hs/serverless/tools/../admin", "/hs/serverless/tools/%2e%2e/admin", "/hs/serverless/tools/%2E%2E/admin",
    "/hs/serverless/tools/..%2fadmin", "/hs/serverless/tools/%252e%252e%252fadmin", "/hs/serverless/tools/echo/..%2f..%2fadmin",
    "/hs/serverless/..%2f..%2f_hcms/api/secret", "/hs/serverless/%2e%2e/%2e%2e/_hcms/api/secret",
    "/_hcms/api/..%2f..%2fhs/serverless/admin", "/hs/serverless/..%2fserverless.json",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_dot_segments_never_reach_another_function_or_a_file(node, path):
    before = invocations(node, "secret"), invocations(node, "admin")
    response = only_response(send_and_read(node, request("GET", path)))
    error = assert_error(response, 404, "NOT_FOUND", r"No function is served at")
    assert "reached" not in response[2].decode() and "exports.main" not in error["message"]
    assert (invocations(node, "secret"), invocations(node, "admin")) == before


@pytest.mark.parametrize("path, function, reached", [
    ("/_hcms/api/secret", "secret", "secret"), ("/_hcms/api/public/page", "public/page", "public/page"),
    ("/_hcms/api/public%2fpage", "public/page", "public/page"), ("/hs/serverless/admin", "admin", "admin"),
    ("/hs/serverless/admin/", "admin", "admin"),
])
def test_the_functions_those_paths_aim_at_are_served_by_their_own_paths(node, path, function, reached):
    # The control for the test above: the targets exist, and their counters count.
    before = invocations(node, function)
    code, _, body = only_response(send_and_read(node, request("GET", path)))
    assert code == 200, body
    assert json.loads(body) == {"reached": reached}
    wait_for(lambda: invocations(node, function) == before + 1, timeout=5, message=f"{function}'s execution to be counted")


# --- 100,000-deep JSON -------------------------------------------------------------------------

DEEP = 100_000
APP_FUNCTION = "/api/crm-extensibility/execution/internal/v3/action/function/1"


@pytest.mark.parametrize("path, body", [
    ("/_hcms/api/echo", "[" * DEEP + "]" * DEEP),
    ("/_hcms/api/echo", '{"a":' * DEEP + "1" + "}" * DEEP),
    ("/_hcms/api/echo", "[" * DEEP),
    ("/hs/serverless/tools/echo", "[" * DEEP + "]" * DEEP),
], ids=["arrays", "objects", "unclosed", "project"])
def test_100k_deep_json_is_400(node, path, body):
    raw = request("POST", path, b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body), body.encode())
    assert_error(only_response(send_and_read(node, raw)), 400, "INVALID_REQUEST", r"the limit is 1000 levels")


def test_100k_deep_app_function_parameters_are_400(node):
    body = ('{"serverlessFunction": "nested", "parameters": ' + "[" * DEEP + "]" * DEEP + "}").encode()
    raw = request("POST", APP_FUNCTION, b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body), body)
    code, _, answer = only_response(send_and_read(node, raw))
    assert code == 400
    error = json.loads(answer)["errors"][0]
    assert error["subCategory"] == "ServerlessActionExecutionError.INVALID_REQUEST", error
    assert "the limit is 1000 levels" in error["message"]


# --- pipelining --------------------------------------------------------------------------------

PIPELINED = 1000


def test_1000_pipelined_requests_on_one_connection_are_all_answered_in_order(node):
    # GETs, POSTs with a Content-Length body and chunked POSTs, all sent before any answer is read.
    requests_ = []
    for i in range(PIPELINED):
        path = f"/_hcms/api/echo?i={i}"
        close = i == PIPELINED - 1
        if i % 3 == 1:
            body = b'{"n":%d}' % i
            requests_.append(request("POST", path, b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
                                     body, close=close))
        elif i % 3 == 2:
            requests_.append(request("POST", path, b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n", close=close))
        else:
            requests_.append(request("GET", path, close=close))
    started = time.monotonic()
    responses = send_and_read(node, b"".join(requests_), timeout=30)
    elapsed = time.monotonic() - started
    assert len(responses) == PIPELINED, f"{len(responses)} of {PIPELINED} pipelined requests were answered"
    assert all(code == 200 for code, _, _ in responses), [code for code, _, _ in responses if code != 200][:5]
    order = [json.loads(body)["i"] for _, _, body in responses]
    assert order == [str(i) for i in range(PIPELINED)], "answers out of order"
    assert json.loads(responses[1][2])["body"] == {"n": 1}
    assert len({headers["x-request-id"] for _, headers, _ in responses}) == PIPELINED
    print(f"{PIPELINED} pipelined requests answered in order in {elapsed:.2f} s")


# --- clients that reset ------------------------------------------------------------------------

def open_connections(s):
    return metric(s, "sprocket_open_connections", listener="gateway")


def wait_until_continued(sock, raw_header):
    """Sends a header with `Expect: 100-continue` and waits for the 100: the node is then past
    the header and waiting for the body."""
    sock.sendall(raw_header)
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "closed before 100 Continue"
        data += chunk
    assert data.startswith(b"HTTP/1.1 100 Continue"), data[:200]


def reset_mid_content_length_body(s):
    with socket.create_connection(address(s)) as sock:
        wait_until_continued(sock, request("POST", HELLO, b"Expect: 100-continue\r\nContent-Length: 6000000\r\n", close=False))
        sock.sendall(b"x" * 65536)
        reset(sock)


def reset_mid_chunked_body(s):
    with socket.create_connection(address(s)) as sock:
        wait_until_continued(sock, request("POST", HELLO, b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", close=False))
        sock.sendall(b"10000\r\n" + b"x" * 4096)
        reset(sock)


def reset_mid_header(s):
    with socket.create_connection(address(s)) as sock:
        sock.sendall(b"GET /_hcms/api/hello HTTP/1.1\r\nHost: loc")
        reset(sock)


def reset_mid_response(s):
    with socket.create_connection(address(s)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(request("GET", "/_hcms/api/big", close=False))
        sock.settimeout(10)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200"), "no response begun"  # 5 MB follow, unread
        reset(sock)


@pytest.mark.parametrize("reset_once", [reset_mid_content_length_body, reset_mid_chunked_body, reset_mid_header,
                                        reset_mid_response],
                         ids=["mid-content-length-body", "mid-chunked-body", "mid-header", "mid-response"])
def test_clients_that_reset_leave_nothing_held(node, reset_once):
    baseline = open_connections(node)
    # 12 times: a reserved 6 MB body or a 5 MB unsent response that outlived its client would
    # add up past the 64 MB of --max-receiving-body-mb within these.
    for _ in range(12):
        reset_once(node)
    wait_for(lambda: open_connections(node) <= baseline, timeout=10, message="the reset connections to be closed")
    wait_for(lambda: metric(node, "sprocket_unsent_response_bytes", listener="gateway") == 0, timeout=10,
             message="unsent responses of reset clients to be released")
    # A 6 MB body still finds room: the reservations of the reset uploads were released.
    with socket.create_connection(address(node)) as sock:
        wait_until_continued(sock, request("POST", HELLO, b"Expect: 100-continue\r\nContent-Length: 6000000\r\n"))
        sock.sendall(b"x" * 6_000_000)
        code, _, body = only_response(read_responses(sock, timeout=20))
    assert code == 200, body[:300]


# --- Host, the request target, Expect ----------------------------------------------------------

@pytest.mark.parametrize("host_lines", [
    b"Host: a.example\r\nHost: b.example\r\n",  # which one picks the account?
    b"",                                          # none in HTTP/1.1
    b"Host: a.example, b.example\r\n",           # a list in one field
    b"Host: a.example\r\n b.example\r\n",        # folded
], ids=["twice", "missing", "list", "folded"])
def test_a_host_that_is_not_exactly_one_is_refused(node, host_lines):
    raw = b"GET /_hcms/api/echo HTTP/1.1\r\n" + host_lines + b"Connection: close\r\n\r\n"
    assert_error(only_response(send_and_read(node, raw)), 400, "MALFORMED_REQUEST", "Host")


def test_http_1_0_without_host_is_served(node):
    code, _, body = only_response(send_and_read(node, b"GET /_hcms/api/echo?i=10 HTTP/1.0\r\n\r\n"))
    assert code == 200 and json.loads(body)["i"] == "10", body[:300]


def test_an_absolute_url_target_is_served_for_the_host_it_names(node):
    raw = b"GET http://shop.example:8080/_hcms/api/echo?i=7 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n"
    code, _, body = only_response(send_and_read(node, raw))
    assert code == 200, body[:300]
    echoed = json.loads(body)
    assert echoed["i"] == "7" and echoed["host"] == "shop.example:8080", echoed


@pytest.mark.parametrize("raw", [
    b"POST /_hcms/api/echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    request("GET", "/_hcms/api/echo", b"Expect: 100-continue\r\n"),
], ids=["http-1.0", "no-body"])
def test_no_100_continue_where_no_body_is_awaited(node, raw):
    codes = [code for code, _, _ in send_and_read(node, raw)]
    assert codes == [200], codes  # a 100 would come first, as a response of its own


def test_no_100_continue_before_a_refusal(node):
    too_big = request("POST", HELLO, b"Expect: 100-continue\r\nContent-Length: 7000000\r\n")
    codes = [code for code, _, _ in send_and_read(node, too_big)]
    assert codes == [413], codes
