'use strict';
// The Node.js side of a sprocket worker. It talks to the gateway over fd 3 with length-prefixed
// JSON frames (docs/protocol.md), loads one function, and runs one invocation at a time.
// Module state survives between invocations, as on HubSpot (AWS Lambda).

const fs = require('fs');
const net = require('net');
const util = require('util');
const path = require('path');
const { pathToFileURL } = require('url');

// Read by glibc at start-up (src/runtime/worker_launcher.cpp); not part of the function's environment.
delete process.env.GLIBC_TUNABLES;

// ---- frames -------------------------------------------------------------------------------

// The channel's bytes arrive in one reused buffer (`onread`), not through a Readable stream:
// a worker that wakes for a single invocation runs far less JavaScript this way, and most
// workers of a server with many functions wake for one invocation at a time.
const READ_BUFFER_BYTES = 64 * 1024;
let partial = [];     // the start of a frame that did not fit in what has arrived
let partialBytes = 0;

const channel = new net.Socket({
  fd: 3,
  readable: true,
  writable: true,
  onread: { buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES), callback: onChannelData },
});
channel.setNoDelay?.(true);
// Without the gateway there is nothing to serve.
channel.on('end', () => process.exit(0));
channel.on('error', () => process.exit(0));

function onChannelData(length, buffer) {
  let data = buffer;
  let start = 0;
  let end = length;
  if (partialBytes > 0) {
    // The buffer is reused by the next read: what is kept must be copied out of it.
    partial.push(Buffer.from(buffer.subarray(0, length)));
    partialBytes += length;
    if (partial[0].length < 4 && partialBytes >= 4) partial = [Buffer.concat(partial, partialBytes)];
    if (partialBytes < 4 || partialBytes < 4 + partial[0].readUInt32LE(0)) return;
    data = Buffer.concat(partial, partialBytes);
    end = partialBytes;
    partial = [];
    partialBytes = 0;
  }
  while (end - start >= 4) {
    const size = data.readUInt32LE(start);
    if (end - start < 4 + size) break;
    let message;
    try {
      message = JSON.parse(data.toString('utf8', start + 4, start + 4 + size));
    } catch (err) {
      process.exit(70); // the gateway never sends invalid JSON; something is badly wrong
    }
    start += 4 + size;
    handleMessage(message);
  }
  if (start < end) {
    partial = [Buffer.from(data.subarray(start, end))];
    partialBytes = end - start;
  }
}

// A frame goes straight to the socket, whole, before sendFrame returns: write(2) as much as the
// non-blocking socket takes, and while it is full, wait a moment for the gateway to read and
// write the rest. No frame is ever left half-written, so a result is with the gateway before
// the next invocation starts (the gateway counts on it: an invocation behind an unanswered one
// has not started), and process.exit() can never cut one short. The gateway reads every
// worker's socket as soon as it is readable, so a full socket drains within microseconds; the
// wait only matters for answers of several megabytes.
const waitCell = new Int32Array(new SharedArrayBuffer(4));

function sendFrame(message) {
  writeAll(encodeFrame(message));
}

function writeAll(data) {
  let written = 0;
  let pause = 0.02; // ms, doubling up to 2 ms while the socket stays full
  while (written < data.length) {
    let n;
    try {
      n = fs.writeSync(3, data, written);
    } catch (err) {
      if (err.code !== 'EAGAIN') process.exit(0); // the gateway is gone
      n = 0;
    }
    written += n;
    if (n === 0) {
      Atomics.wait(waitCell, 0, 0, pause);
      pause = Math.min(pause * 2, 2);
    } else {
      pause = 0.02;
    }
  }
}

// ---- console capture ----------------------------------------------------------------------

let currentLogs = null; // lines of the invocation in progress, not yet sent
let strayLogs = [];     // lines written between invocations (late async work)
// Lines not sent with a result are sent by one timer, re-armed only when there is something
// to send: a function which later hangs, crashes or times out still has its logs.
const LOG_FLUSH_MS = 20;
let logFlushTimer = null;
let logFlushArmed = false;

// JSON.stringify writes a lone surrogate (a string cut in the middle of an emoji) as a \udXXX
// escape, which is not UTF-8 the gateway can take: such strings go as U+FFFD instead.
function wellFormed(key, value) {
  return typeof value === 'string' ? value.toWellFormed() : value;
}

function encodeFrame(message) {
  let json = JSON.stringify(message);
  if (json.includes('\\ud')) json = JSON.stringify(message, wellFormed);
  const size = Buffer.byteLength(json, 'utf8');
  const frame = Buffer.allocUnsafe(4 + size);
  frame.writeUInt32LE(size, 0);
  frame.write(json, 4, 'utf8');
  return frame;
}

// Lines travel with the result when the function answers within LOG_FLUSH_MS of writing them
// (most do); otherwise this sends them. Scheduling per invocation (setImmediate, then clearing
// it when the answer came first) cost more than writing ten lines.
function flushLogs() {
  logFlushArmed = false;
  if (currentLogs && currentLogs.length) {
    sendFrame({ type: 'log', logs: currentLogs });
    currentLogs = [];
  }
  if (strayLogs.length) {
    sendFrame({ type: 'log', logs: strayLogs });
    strayLogs = [];
  }
}

// HubSpot keeps 4 KB of output per execution: beyond the limit lines are only counted.
let logLimitBytes = Infinity;
let invocationLogBytes = 0;
let droppedLogBytes = 0;

function capture(level, args) {
  // The common case, one string, needs no formatting.
  const text = args.length === 1 && typeof args[0] === 'string' ? args[0] : util.format(...args);
  if (currentLogs) {
    invocationLogBytes += text.length;
    if (invocationLogBytes > logLimitBytes) {
      droppedLogBytes += text.length;
      return;
    }
  }
  const line = [Date.now(), level, text];
  (currentLogs || strayLogs).push(line);
  if (!logFlushArmed) {
    logFlushArmed = true;
    if (logFlushTimer) {
      logFlushTimer.refresh();
    } else {
      // Unreferenced: it must not count as an action's pending work, nor keep the process up.
      logFlushTimer = setTimeout(flushLogs, LOG_FLUSH_MS);
      logFlushTimer.unref();
    }
  }
}

// process.exit() in a function: the event loop will not turn again, so write what is left now.
process.on('exit', () => {
  const frames = [];
  const logs = (currentLogs || []).concat(strayLogs);
  if (logs.length) frames.push(encodeFrame({ type: 'log', logs }));
  // Whether this exit cuts an invocation off. When none runs (e.g. `sendResponse(…);
  // process.exit(0)`), invocations the gateway sent and this process never started run elsewhere.
  frames.push(encodeFrame({ type: 'exiting', running: active !== null }));
  writeAll(Buffer.concat(frames));
});

console.log = (...args) => capture('INFO', args);
console.info = (...args) => capture('INFO', args);
console.warn = (...args) => capture('WARN', args);
console.error = (...args) => capture('ERROR', args);
console.debug = (...args) => capture('DEBUG', args);
console.trace = (...args) => {
  const err = new Error(util.format(...args));
  err.name = 'Trace';
  capture('DEBUG', [err.stack]);
};

// ---- loading ------------------------------------------------------------------------------

let main = null;
let functionName = '';
let secretNames = [];
let secretCache = null; // reading process.env is slow; secrets change only through 'env' frames

function secretValues() {
  if (!secretCache) {
    secretCache = {};
    for (const name of secretNames) {
      if (process.env[name] !== undefined) secretCache[name] = process.env[name];
    }
  }
  return secretCache;
}

async function loadFunction(file) {
  let exported;
  try {
    exported = require(file);
  } catch (err) {
    if (err && err.code === 'ERR_REQUIRE_ESM') {
      exported = await import(pathToFileURL(file).href);
    } else {
      throw err;
    }
  }
  let candidate = exported && exported.main;
  if (typeof candidate !== 'function' && exported && exported.default) candidate = exported.default.main;
  if (typeof candidate !== 'function') {
    throw new Error(`${path.basename(file)} does not export a "main" function ` +
      '(write exports.main = async (context) => { … } or export const main = …)');
  }
  return candidate;
}

// Stack frames of this file and of Node's stream machinery below it say nothing about the
// function; cut the trace at the first of them.
function functionFrames(stack) {
  const lines = String(stack).split('\n');
  const cut = lines.findIndex((line) => line.includes(__filename));
  return (cut > 0 ? lines.slice(0, cut) : lines).join('\n');
}

function describeError(err) {
  if (err instanceof Error) {
    return { name: err.name, message: err.message, stack: functionFrames(err.stack || `${err.name}: ${err.message}`) };
  }
  let text;
  try { text = typeof err === 'string' ? err : util.inspect(err); } catch (_) { text = String(err); }
  return { name: 'Error', message: text, stack: text };
}

// ---- invocations --------------------------------------------------------------------------

let active = null; // { id, settled }
// Invocations the gateway sent while another was running (pipelining): run in order, one at a
// time, each starting in a fresh turn of the event loop after the previous one answered.
const waitingInvocations = [];
let startScheduled = false;

function startNextInvocation() {
  if (active || startScheduled || collectingGarbage || waitingInvocations.length === 0) return;
  startScheduled = true;
  // A microtask: after whatever the previous invocation still runs synchronously, before I/O
  // (its result has left already: see sendFrame).
  queueMicrotask(() => {
    startScheduled = false;
    if (!active && waitingInvocations.length) invoke(waitingInvocations.shift());
  });
}

// Headers arrive lower-cased; code written for HubSpot also reads e.g. headers['User-Agent'].
const caseInsensitiveLookup = {
  get(target, prop, receiver) {
    if (typeof prop === 'string' && !Object.prototype.hasOwnProperty.call(target, prop)) {
      const lower = prop.toLowerCase();
      if (Object.prototype.hasOwnProperty.call(target, lower)) return target[lower];
    }
    return Reflect.get(target, prop, receiver);
  },
  has(target, prop) {
    if (typeof prop === 'string') return prop in target || prop.toLowerCase() in target;
    return prop in target;
  },
};

function caseInsensitiveHeaders(headers) {
  return new Proxy(headers, caseInsensitiveLookup);
}

function isBinary(value) {
  return Buffer.isBuffer(value) || value instanceof Uint8Array;
}

// HubSpot's response contract, reduced to what the gateway needs (docs/protocol.md). The body
// is serialised here, so that its JSON text is exactly what JSON.stringify makes of it.
function toHttpAnswer(kind, value) {
  let response = kind === 'response' ? value : { body: value };
  if (response === null || typeof response !== 'object') response = { body: response };
  const answer = {
    statusCode: response.statusCode,
    headers: response.headers,
    multiValueHeaders: response.multiValueHeaders,
    setCookie: response['Set-Cookie'] !== undefined ? response['Set-Cookie'] : response['set-cookie'],
  };
  const body = response.body;
  if (body === undefined || body === null) {
    answer.bodyType = 'none';
  } else if (typeof body === 'string') {
    answer.body = body;
    answer.bodyType = response.isBase64Encoded === true ? 'base64' : 'text';
  } else if (isBinary(body)) {
    answer.body = Buffer.from(body).toString('base64');
    answer.bodyType = 'base64';
  } else {
    const text = JSON.stringify(body);
    answer.body = text;
    answer.bodyType = text === undefined ? 'none' : 'json';
  }
  return answer;
}

function answer(invocation, kind, value) {
  if (invocation.settled) return false;
  let message;
  try {
    if (invocation.mode === 'app' || invocation.mode === 'action') {
      const text = JSON.stringify(value);
      message = { valueJson: text === undefined ? 'null' : text };
    } else {
      message = { response: toHttpAnswer(kind, value) };
    }
  } catch (err) {
    const error = new TypeError(`The function's response could not be converted to JSON: ${err.message}`);
    error.stack = `${error.name}: ${error.message}`;
    return finish(invocation, { error: describeError(error) });
  }
  return finish(invocation, message);
}

// The instance's peak resident memory (what Lambda reports as Max Memory Used). getrusage is
// cheap but not free: an invocation that ran for under a millisecond cannot have grown the
// process by much, so it reuses a sample up to 100 ms old; any longer one takes a fresh one.
let peakRss = 0;
let peakRssAt = 0;
function peakRssKb(now, ranForMs) {
  if (ranForMs >= 1 || now - peakRssAt >= 100) {
    peakRss = process.resourceUsage().maxRSS;
    peakRssAt = now;
  }
  return peakRss;
}

// Workflow actions report the peak of each execution on its own (docs/actions.md): the
// kernel's high-water mark (VmHWM) is reset to the present resident size when one starts,
// and read when it answers. Where /proc cannot be written, the instance's peak stands in.
let peakResettable = true;
function resetPeakMemory() {
  if (!peakResettable) return;
  try { fs.writeFileSync('/proc/self/clear_refs', '5'); } catch (_) { peakResettable = false; }
}
function executionPeakKb() {
  if (peakResettable) {
    try {
      const match = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'latin1'));
      if (match) return Number(match[1]);
    } catch (_) { /* fall through */ }
  }
  return process.resourceUsage().maxRSS;
}

// Garbage an action left behind is collected before the next execution starts, so that one
// execution's garbage is never counted against the next (module-level state is kept, as on
// HubSpot). A function's instance collects when it holds more than half its memory limit: the
// limit is on the whole process, which V8 knows nothing of, and a Buffer's memory is reclaimed
// only by a collection V8 would start late. V8 exposes gc() only behind --expose-gc; the flag
// is set here, at run time, and the function is taken from a fresh context so that user code
// never sees a global gc.
let memoryLimitBytes = 128 * 1048576;
let collectingGarbage = false;  // the next invocation waits for it
// `peakKb` is the instance's peak: below half the limit, the present cannot be above it, and
// the present (one more system call) is read only when it could be.
function underMemoryPressure(peakKb) {
  return peakKb * 1024 > memoryLimitBytes / 2 && process.memoryUsage.rss() > memoryLimitBytes / 2;
}
let collectGarbage = null;
function collectGarbageNow() {
  if (collectGarbage === null) {
    try {
      require('v8').setFlagsFromString('--expose-gc');
      collectGarbage = require('vm').runInNewContext('gc');
    } catch (_) {
      collectGarbage = () => {};
    }
  }
  try { collectGarbage(); } catch (_) { /* nothing to collect with */ }
}

function finish(invocation, message) {
  if (invocation.settled) return false;
  invocation.settled = true;
  message.type = 'result';
  message.id = invocation.id;
  message.logs = currentLogs || [];
  const now = Date.now();
  const ranForMs = now - invocation.startedAt;
  message.maxRssKb = invocation.mode === 'action' ? executionPeakKb() : peakRssKb(now, ranForMs);
  if (droppedLogBytes > 0) message.droppedLogBytes = droppedLogBytes;
  if (active === invocation) {
    active = null;
    currentLogs = null;
  }
  try {
    sendFrame(message);
  } catch (err) {
    // e.g. a header value that is a BigInt: the answer cannot travel, so it becomes an error.
    const error = new TypeError(`The function's response could not be converted to JSON: ${err.message}`);
    sendFrame({ type: 'result', id: invocation.id, logs: message.logs, error: describeError(error) });
  }
  if (invocation.mode === 'action' || (ranForMs >= 1 && underMemoryPressure(message.maxRssKb))) {
    // After the answer has left, and once this turn's frames have returned: what the caller
    // still holds (a thrown error with a response body attached, the value) is garbage then.
    collectingGarbage = true;
    setImmediate(() => {
      collectGarbageNow();
      collectingGarbage = false;
      startNextInvocation();
    });
    return true;
  }
  startNextInvocation();  // only now: the result is written
  return true;
}

function fail(invocation, err) {
  const error = describeError(err);
  if (invocation.mode === 'action') {
    const reason = retryReason(err);
    if (reason) error.retry = reason;
  }
  return finish(invocation, { error });
}

// HubSpot retries an action whose code fails with a rate-limit error, or a 429 or 5XX from axios
// (error.response.status) or @hubspot/api-client (ApiException: error.code is the HTTP status).
// The status of the `request` package's errors and of hand-made ones (error.status,
// error.statusCode) counts too: what matters is the HTTP answer the code gave up on.
function retryReason(err) {
  if (err === null || typeof err !== 'object') return null;
  const candidates = [err.response && err.response.status, err.response && err.response.statusCode, err.statusCode, err.status,
    typeof err.code === 'number' ? err.code : undefined];
  const status = candidates.find((value) => Number.isInteger(value));
  if (status === 429) return 'HTTP 429 (rate limited)';
  if (status >= 500 && status <= 599) return `HTTP ${status}`;
  const body = err.body || (err.response && err.response.data);
  if (body && typeof body === 'object' && body.category === 'RATE_LIMITS') return 'rate limited (RATE_LIMITS)';
  return null;
}

function invoke(message) {
  // 'app': the answer is a value for a UI extension; 'action': a workflow action's result.
  const mode = message.mode === 'app' || message.mode === 'action' ? message.mode : 'endpoint';
  const invocation = { id: message.id, settled: false, mode, startedAt: Date.now() };
  active = invocation;
  currentLogs = [];
  invocationLogBytes = 0;
  droppedLogBytes = 0;
  if (mode === 'action') {
    resetPeakMemory();
    runAction(invocation, message.event || {});
    return;
  }
  const context = message.context || {};
  if (context.headers) context.headers = caseInsensitiveHeaders(context.headers);
  context.secrets = secretNames.length ? { ...secretValues() } : {};

  const sendResponse = (response) => {
    if (!answer(invocation, 'response', response === undefined ? {} : response)) {
      capture('WARN', ['sendResponse was called after the function had already answered; this call is ignored']);
    }
  };

  callMain(invocation, context, sendResponse, () => invocation.settled, (value) => {
    const kind = value !== null && typeof value === 'object' && 'statusCode' in value ? 'response' : 'value';
    answer(invocation, kind, value);
  });
}

// Calls main(argument, callback) and answers with what it returns or rejects with. The callback
// style answers through the callback: `undefined` from a main that takes one means "the answer
// comes later", not "an empty answer". `answered()` says whether the callback already did.
function callMain(invocation, argument, callback, answered, onValue) {
  let returned;
  try {
    returned = main(argument, callback);
  } catch (err) {
    fail(invocation, err);
    return;
  }
  const waitsForCallback = main.length >= 2;
  Promise.resolve(returned).then(
    (value) => {
      if (answered() || invocation.settled) return;
      if (value === undefined && waitsForCallback) return;
      onValue(value);
    },
    (err) => {
      if (!fail(invocation, err)) capture('ERROR', [`Error after the code had answered: ${describeError(err).stack}`]);
    },
  );
}

// Resource types that are the worker's own (its stdio and the channel to the gateway) or
// connections the code leaves open (an HTTP agent's keep-alive sockets): they do not hold back
// an action's result. Timers, immediates, file system and DNS requests do.
const notPendingWork = new Set(['PipeWrap', 'TTYWrap', 'TCPSocketWrap', 'TCPWrap', 'SignalWrap', 'ProcessWrap']);

function pendingWork() {
  return process.getActiveResourcesInfo().filter((type) => !notPendingWork.has(type)).length;
}

// HubSpot (Lambda) delivers a callback's outputs once the event loop is empty: work the code
// started before or after calling back still finishes first.
function whenEventLoopIsEmpty(then) {
  const check = () => {
    if (pendingWork() === 0) then();
    else setTimeout(check, 1).unref();
  };
  setTimeout(check, 0).unref();
}

function runAction(invocation, event) {
  let delivered = false;
  const deliver = (result) => {
    if (delivered) {
      capture('WARN', ['callback was called more than once; later calls are ignored']);
      return;
    }
    delivered = true;
    whenEventLoopIsEmpty(() => answer(invocation, 'value', result === undefined ? {} : result));
  };
  callMain(invocation, event, deliver, () => delivered, (value) => {
    delivered = true;
    answer(invocation, 'value', value === undefined ? {} : value);
  });
}

function handleMessage(message) {
  switch (message.type) {
    case 'load':
      // A worker may have been started generic (a spare): the function's folder, variables and
      // secrets arrive here.
      if (message.cwd) {
        try { process.chdir(message.cwd); } catch (_) { /* the require below reports a missing folder */ }
      }
      for (const [name, value] of Object.entries(message.env || {})) process.env[name] = String(value);
      secretCache = null;
      functionName = message.name || '';
      secretNames = Array.isArray(message.secretNames) ? message.secretNames : [];
      if (typeof message.logLimitBytes === 'number') logLimitBytes = message.logLimitBytes;
      if (typeof message.memoryLimitMb === 'number') memoryLimitBytes = message.memoryLimitMb * 1048576;
      loadFunction(message.file).then(
        (fn) => {
          main = fn;
          sendFrame({ type: 'loaded' });
        },
        (err) => {
          const described = describeError(err);
          sendFrame({ type: 'load_error', message: described.stack || described.message });
        },
      );
      break;
    case 'invoke':
      // An idle worker starts at once; otherwise the invocation waits its turn.
      if (!active && !startScheduled && !collectingGarbage && waitingInvocations.length === 0) {
        invoke(message);
      } else {
        waitingInvocations.push(message);
        startNextInvocation();
      }
      break;
    case 'env':
      // Secrets changed: the new values apply from now on, without a restart.
      for (const [name, value] of Object.entries(message.set || {})) process.env[name] = value;
      for (const name of message.remove || []) delete process.env[name];
      if (Array.isArray(message.secretNames)) secretNames = message.secretNames;
      secretCache = null;
      break;
    default:
      capture('WARN', [`sprocket worker: unknown frame type ${message.type}`]);
  }
}

// An error that escapes the function's promise chain fails the invocation in progress (as it
// would crash a Lambda invocation) instead of taking the whole instance down with it.
process.on('uncaughtException', (err) => {
  if (active) fail(active, err);
  else capture('ERROR', [`Uncaught exception: ${describeError(err).stack}`]);
});
process.on('unhandledRejection', (reason) => {
  if (active) fail(active, reason);
  else capture('ERROR', [`Unhandled promise rejection: ${describeError(reason).stack}`]);
});

// A spare worker requires HubSpot's usual packages before it says it is ready, so that the
// function it becomes finds them already loaded.
for (const name of (process.env.SPROCKET_PRELOAD || '').split(',').filter(Boolean)) {
  try { require(name); } catch (_) { /* not installed: the function's own require will say so */ }
}
delete process.env.SPROCKET_PRELOAD;

sendFrame({ type: 'ready', pid: process.pid });
