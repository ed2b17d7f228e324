'use strict';
// Starts HubSpot's @hubspot/serverless-dev-runtime (the engine behind `hs functions server`)
// for `make bench`, the way the research script start-serverless-dev-runtime.sh did:
// `start({path, port, contact: true, watch: false})`.
//
// Usage: node serverless_dev_runtime.js PACKAGE_DIR FUNCTIONS_FOLDER PORT
//   PACKAGE_DIR: .../node_modules/@hubspot/serverless-dev-runtime (installed by bench/run.py)
//
// The runtime calls express's `app.listen(port)`, i.e. every interface. The benchmark must
// stay on loopback, so `net.Server#listen(port, callback)` is given the host 127.0.0.1 here.
// When ready it prints `Local test server running at http://localhost:PORT` on stdout.
// SIGINT makes it delete its temporary copy of the folder before exiting.

const net = require('net');
const path = require('path');

const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  const isPort = typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first));
  if (isPort && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  return originalListen.apply(this, args);
};

const [packageDir, folder, port] = process.argv.slice(2);
if (!packageDir || !folder || !port) {
  console.error('usage: serverless_dev_runtime.js PACKAGE_DIR FUNCTIONS_FOLDER PORT');
  process.exit(2);
}
const { start } = require(path.resolve(packageDir));
start({ path: path.resolve(folder), port: Number(port), contact: true, watch: false, debug: false });
