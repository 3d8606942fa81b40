// For the live tests: the fake Apps Script whose UrlFetchApp makes real HTTP calls to a running
// wapi (started by tests/e2e/clients.rs, which passes WAPI_URL, WAPI_KEY and what its simulator
// was told), on the real clock, and direct calls to that gateway for the test's own moves.

import assert from 'node:assert/strict';

import { httpTransport, realClock } from './gas/index.mjs';
import { project } from './support.mjs';

export const GATEWAY = process.env.WAPI_URL;
export const ADMIN_KEY = process.env.WAPI_KEY;
assert.ok(GATEWAY && ADMIN_KEY, 'WAPI_URL and WAPI_KEY name the gateway: `cargo test -p wapi --test e2e clients` starts one and sets them');

export const transport = httpTransport();

/** A project talking to the live gateway on the real clock. */
export function liveProject(options = {}) {
  return project({ transport, clock: realClock(), url: GATEWAY, key: ADMIN_KEY, ...options });
}

/** A call to the gateway from the test itself (admin key): the envelope. */
export function direct(method, path, body) {
  const headers = [['X-API-Key', ADMIN_KEY]];
  if (body !== undefined) headers.push(['Content-Type', 'application/json']);
  const reply = transport({
    url: GATEWAY + path,
    method,
    headers,
    body: body === undefined ? null : new TextEncoder().encode(JSON.stringify(body)),
  });
  return { status: reply.status, headers: reply.headers, body: JSON.parse(new TextDecoder().decode(reply.body)) };
}

/** Sleeps the thread (the fakes are synchronous, so the tests are too). */
export function pause(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Polls `probe` every 50 ms until it answers truthy; fails naming `what` after `timeoutMs`. */
export function eventually(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    pause(50);
  }
}
