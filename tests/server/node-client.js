// SPDX-License-Identifier: MIT
// The real @pyroscope/nodejs client pushing its own wall and heap profiles to our server.
//   node node-client.js NODE_MODULES_DIR SERVER_URL APP_NAME SECONDS
'use strict';
const path = require('path');
const [modules, url, appName, seconds] = process.argv.slice(2);
const Pyroscope = require(path.join(modules, '@pyroscope', 'nodejs'));

function busy(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) {
    for (let i = 0; i < 10000; i++) x += Math.sqrt(i * x + 1);
  }
  return x;
}

function allocate() {
  const keep = [];
  for (let i = 0; i < 2000; i++) keep.push({ i, s: 'x'.repeat(64) });
  return keep;
}

async function main() {
  Pyroscope.init({ serverAddress: url, appName, flushIntervalMs: 1000, tags: { env: 'test' } });
  Pyroscope.start();
  const end = Date.now() + Number(seconds) * 1000;
  const held = [];
  while (Date.now() < end) {
    busy(40);
    held.push(allocate());
    if (held.length > 20) held.shift();
    await new Promise((r) => setTimeout(r, 5)); // let the exporter's timers run
  }
  await Pyroscope.stop();
  console.log('node client done');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
