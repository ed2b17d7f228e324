'use strict';
// The "bare Node" baseline of `make bench`: one Node process, `http.createServer`, and the
// function's `exports.main(context, sendResponse)` called in-process for every request. It is
// what a hand-written server would do: no worker process, no isolation, no logging. The
// context is a minimal imitation of HubSpot's (params, parsed JSON body, headers, …) so that
// the function gets the same inputs as under sprocket.
//
// Usage: node bare_node.js FUNCTION_FILE [PORT]
// Listens on 127.0.0.1 only and prints `bare-node listening on http://127.0.0.1:PORT` on
// stdout when ready. Packages (lodash, …) resolve through NODE_PATH, as in sprocket's workers.

const http = require('http');
const path = require('path');

const file = path.resolve(process.argv[2] || '');
const port = Number(process.argv[3] || 0);
const fn = require(file);
const main = fn.main || (fn.default && fn.default.main);
if (typeof main !== 'function') {
  console.error(`${file} does not export main`);
  process.exit(2);
}
const ENDPOINT_PREFIX = '/_hcms/api/';

function buildContext(req, url, rawBody) {
  const params = {};
  for (const [key, value] of url.searchParams) (params[key] ||= []).push(value);
  let body = {};
  const type = req.headers['content-type'] || '';
  if (rawBody.length && /\bjson\b/i.test(type)) body = JSON.parse(rawBody.toString('utf8'));
  let endpoint = url.pathname;
  if (endpoint.startsWith(ENDPOINT_PREFIX)) endpoint = endpoint.slice(ENDPOINT_PREFIX.length);
  return {
    accountId: 123456,
    method: req.method,
    endpoint,
    params,
    body,
    headers: req.headers,
    contact: null,
    limits: { executionsRemaining: 6000, timeRemaining: 600000 },
    secrets: {},
  };
}

function send(res, response) {
  if (res.headersSent || res.writableEnded) return;
  const answer = response && typeof response === 'object' ? response : { body: response };
  const headers = { ...(answer.headers || {}) };
  for (const [name, values] of Object.entries(answer.multiValueHeaders || {})) headers[name] = values;
  let body = answer.body;
  if (body === undefined || body === null) {
    body = '';
  } else if (typeof body === 'string') {
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'text/html; charset=utf-8';
    }
  } else if (Buffer.isBuffer(body)) {
    headers['Content-Type'] ||= 'application/octet-stream';
  } else {
    body = JSON.stringify(body);
    headers['Content-Type'] = 'application/json; charset=utf-8';
  }
  headers['Content-Length'] = Buffer.byteLength(body);
  res.writeHead(Number(answer.statusCode) || 200, headers);
  res.end(body);
}

function fail(res, err) {
  if (res.headersSent) return;
  const text = JSON.stringify({ status: 'error', message: String(err && err.message) });
  res.writeHead(500, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    let returned;
    try {
      const url = new URL(req.url, 'http://localhost');
      const context = buildContext(req, url, chunks.length ? Buffer.concat(chunks) : Buffer.alloc(0));
      returned = main(context, (response) => send(res, response));
    } catch (err) {
      fail(res, err);
      return;
    }
    Promise.resolve(returned).then(
      (value) => {
        if (value === undefined && main.length >= 2) return; // answered through sendResponse
        send(res, value !== null && typeof value === 'object' && 'statusCode' in value ? value : { body: value });
      },
      (err) => fail(res, err),
    );
  });
});
server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`bare-node listening on http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
