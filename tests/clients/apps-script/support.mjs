// What the Apps Script tests share: the project's files, a fake Apps Script with the client
// loaded, wapi's envelope as replies, a small model of the gateway for the offline sheet tests
// (the live tests check the same script against the real binary), and a multipart reader.

import { fileURLToPath } from 'node:url';

import { createAppsScript, virtualClock } from './gas/index.mjs';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SCRIPT = `${ROOT}clients/apps-script/WhatsAppApi.gs`;
export const MANIFEST = `${ROOT}clients/apps-script/appsscript.json`;
export const KEY = 'wapi_Sheets01_0123456789abcdefghijABCDEFGHIJKL';
export const BASE = 'https://wa.example.com';

/** A fake Apps Script project holding WhatsAppApi.gs, with (unless `settings` is false) the address and key saved. */
export function project({ transport, clock = virtualClock(), spreadsheet, drive, settings = true, url = BASE, key = KEY } = {}) {
  const gas = createAppsScript({ files: [SCRIPT], manifest: MANIFEST, transport, clock, spreadsheet, drive });
  if (settings) {
    gas.state.properties.user.map.set('wapi.url', url);
    gas.state.properties.user.map.set('wapi.key', key);
  }
  return gas;
}

/** Throws what a run threw; else answers its value (copied out of the script's realm). */
export function valueOf(run) {
  if (run.error) throw run.error;
  if (run.timedOut) throw new Error(`${run.label} ran past the 6-minute limit`);
  return run.value === undefined ? undefined : structuredClone(run.value);
}

export function reply(status, body, headers = {}) {
  return {
    status,
    headers: [['content-type', 'application/json'], ['x-request-id', 'req-0001'], ...Object.entries(headers)],
    body: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
  };
}

export const ok = (data, status = 200, headers = {}) => reply(status, { success: true, data, error: '', code: '' }, headers);
export const refuse = (status, code, error, data = null, headers = {}) =>
  reply(status, { success: false, data, error, code }, headers);

export function header(request, name) {
  return request.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

export function jsonOf(request) {
  return JSON.parse(new TextDecoder().decode(request.body));
}

/** The parts of a multipart/form-data request: name → {filename, type, bytes, text}. */
export function multipartOf(request) {
  const boundary = /boundary=(.+)$/.exec(header(request, 'Content-Type'))[1];
  const body = Buffer.from(request.body);
  const parts = {};
  let at = body.indexOf(`--${boundary}`);
  while (at >= 0) {
    const start = at + boundary.length + 2;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headEnd = body.indexOf('\r\n\r\n', start);
    const next = body.indexOf(`\r\n--${boundary}`, headEnd);
    const head = body.subarray(start + 2, headEnd).toString();
    const bytes = body.subarray(headEnd + 4, next);
    const name = /name="([^"]*)"/.exec(head)[1];
    parts[name] = {
      filename: /filename="([^"]*)"/.exec(head)?.[1] ?? null,
      type: /Content-Type: (.+)/i.exec(head)?.[1].trim() ?? null,
      bytes,
      text: bytes.toString(),
    };
    at = next + 2;
  }
  return parts;
}

const PHONE = /^[1-9]\d{7,14}$/;

/**
 * A small model of wapi for offline tests of the sheet menu: batch sends with per-item
 * idempotency keys and the daily cap, number checks, messages, status; `refuseNext` answers
 * the next requests with the given replies instead (e.g. a 429); `onRequest` sees each request.
 */
export class ModelGateway {
  constructor({ clock, key = KEY, notOnWhatsApp = [], dailyLimit = 500 } = {}) {
    Object.assign(this, { clock, key, notOnWhatsApp, dailyLimit, connected: true });
    this.messages = [];
    this.keys = new Map();
    this.requests = [];
    this.refuseNext = [];
    this.onRequest = () => {};
    this.transport = (request) => this.handle(request);
  }

  batches() {
    return this.requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname === '/api/messages/batch');
  }

  handle(request) {
    this.requests.push(request);
    this.onRequest(request);
    if (this.refuseNext.length) return this.refuseNext.shift();
    if (header(request, 'X-API-Key') !== this.key) return refuse(401, 'UNAUTHORIZED', 'invalid or revoked API key');
    const path = new URL(request.url).pathname;
    const route = `${request.method} ${path}`;
    if (route === 'POST /api/messages/batch') return this.batch(jsonOf(request));
    if (route === 'POST /api/numbers/check') return this.check(jsonOf(request));
    if (route === 'GET /api/status') return ok(this.status());
    const one = /^GET \/api\/messages\/(\d+)$/.exec(route);
    if (one) {
      const message = this.messages.find((m) => m.id === Number(one[1]));
      return message ? ok(message) : refuse(404, 'NOT_FOUND', `no message with id ${one[1]}`);
    }
    return refuse(404, 'NOT_FOUND', `no route ${route}`);
  }

  status() {
    return {
      connection: { state: this.connected ? 'connected' : 'waiting_for_qr', number: '15550001111' },
      pendingMessages: this.messages.filter((m) => m.status === 'queued').length,
      sentToday: this.messages.filter((m) => m.status === 'sent').length,
      dailyLimit: this.dailyLimit,
      keyRole: 'admin',
    };
  }

  batch({ items }) {
    if (!this.connected) {
      return refuse(503, 'WHATSAPP_NOT_CONNECTED', 'WhatsApp is not connected: no linked session; open the dashboard and scan the QR');
    }
    const results = items.map((item, index) => this.accept(item, index));
    return ok({
      items: results,
      queued: results.filter((r) => r.success && !r.replayed).length,
      refused: results.filter((r) => !r.success).length,
    });
  }

  accept({ to, text, idempotencyKey }, index) {
    const refused = (code, error, details = null) => ({ index, success: false, message: null, replayed: false, error, code, details });
    if (!PHONE.test(to)) {
      const message = 'must be digits only, with country code, e.g. 923001234567';
      return refused('VALIDATION_ERROR', `items[${index}].to ${message}`, [{ field: `items[${index}].to`, message }]);
    }
    if (this.notOnWhatsApp.includes(to)) return refused('RECIPIENT_NOT_FOUND', `${to} is not on WhatsApp`);
    const earlier = idempotencyKey && this.keys.get(idempotencyKey);
    if (earlier) {
      if (earlier.to !== to || earlier.text !== text) {
        return refused('VALIDATION_ERROR', 'Idempotency-Key was already used in the last 24 hours with a different request');
      }
      return { index, success: true, message: earlier, replayed: true, error: null, code: null, details: null };
    }
    if (this.messages.length >= this.dailyLimit) {
      return refused('DAILY_LIMIT_REACHED', `the daily send limit of ${this.dailyLimit} messages is reached; it resets at midnight UTC`);
    }
    const at = new Date(this.clock.now()).toISOString();
    const message = {
      id: this.messages.length + 1,
      type: 'text',
      to,
      text,
      status: 'queued',
      reason: null,
      createdAt: at,
      updatedAt: at,
      sentAt: null,
    };
    this.messages.push(message);
    if (idempotencyKey) this.keys.set(idempotencyKey, message);
    return { index, success: true, message, replayed: false, error: null, code: null, details: null };
  }

  check({ numbers }) {
    return ok({ results: numbers.map((number) => ({ number, onWhatsapp: !this.notOnWhatsApp.includes(number), lid: null })) });
  }

  /** Sends everything queued (as the anti-ban queue would, eventually). */
  drain() {
    const at = new Date(this.clock.now()).toISOString();
    for (const m of this.messages.filter((m) => m.status === 'queued')) Object.assign(m, { status: 'sent', sentAt: at, updatedAt: at });
  }
}
