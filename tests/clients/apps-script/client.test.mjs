// The WhatsAppApi client offline, on the fake Apps Script: requests as the gateway expects them,
// the envelope unwrapped, refusals as WhatsAppApiError with the gateway's code, 429 waited out
// while the run has time, 503 explained, media from a URL or Drive as multipart.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DriveModel, virtualClock } from './gas/index.mjs';
import { BASE, KEY, header, jsonOf, multipartOf, ok, project, refuse, reply, valueOf } from './support.mjs';

/** Runs `source` with a client from the saved settings in scope as `wa`; answers the run. */
function withClient(gas, source) {
  return gas.exec(`var wa = WhatsAppApi.fromSettings();\n${source}`);
}

/** The error a run threw, as plain fields. */
function errorOf(run) {
  assert.ok(run.error, `expected an error, got ${JSON.stringify(run.value)}`);
  const { name, code, status, details, retryAfter, requestId, message } = run.error;
  return structuredClone({ name, code, status, details, retryAfter, requestId, message });
}

const message = (id, status = 'queued') => ({ id, type: 'text', to: '923001234567', text: 'Hi', status });

describe('WhatsAppApi', () => {
  it('sends a text as JSON with the key and answers the message from the envelope', () => {
    const seen = [];
    const gas = project({ transport: (r) => (seen.push(r), ok(message(7), 202)) });
    const sent = valueOf(withClient(gas, "return wa.sendText(923001234567, 'Hi', { idempotencyKey: 'order-17' });"));
    assert.deepEqual(sent, message(7));
    assert.equal(seen.length, 1);
    const [request] = seen;
    assert.equal(`${request.method} ${request.url}`, `POST ${BASE}/api/messages`);
    assert.equal(header(request, 'X-API-Key'), KEY);
    assert.equal(header(request, 'Content-Type'), 'application/json');
    assert.equal(header(request, 'Idempotency-Key'), 'order-17');
    assert.deepEqual(jsonOf(request), { to: '923001234567', text: 'Hi' });
    assert.equal(request.muteHttpExceptions, true, 'the client reads error answers itself');
  });

  it('turns a refusal into a WhatsAppApiError carrying code, status, details and request id', () => {
    const details = [{ field: 'to', message: 'must be digits only, with country code, e.g. 923001234567' }];
    const gas = project({ transport: () => refuse(422, 'VALIDATION_ERROR', details[0].field + ' ' + details[0].message, { details }) });
    const error = errorOf(withClient(gas, "return wa.sendText('+92 300', 'Hi');"));
    assert.deepEqual(
      { ...error, message: undefined },
      {
        name: 'WhatsAppApiError',
        code: 'VALIDATION_ERROR',
        status: 422,
        details,
        retryAfter: null,
        requestId: 'req-0001',
        message: undefined,
      }
    );
    assert.match(error.message, /must be digits only/);
  });

  it('names what to do on 401, 403 and 503 (open the dashboard and scan the QR, or wait while it reconnects)', () => {
    const answers = [
      refuse(401, 'UNAUTHORIZED', 'invalid or revoked API key'),
      refuse(403, 'ADMIN_REQUIRED', 'this endpoint needs an admin key'),
      refuse(503, 'WHATSAPP_NOT_CONNECTED', 'WhatsApp is not connected: the session is waiting_for_qr; numbers can be checked once connected'),
      refuse(503, 'WHATSAPP_NOT_CONNECTED', 'WhatsApp is not connected: no linked session; open the dashboard and scan the QR'),
      refuse(503, 'WHATSAPP_NOT_CONNECTED', 'WhatsApp is not connected: the session is reconnecting; numbers can be checked once connected'),
    ];
    const gas = project({ transport: () => answers.shift() });
    assert.match(errorOf(withClient(gas, 'return wa.getStatus();')).message, /check the API key in WhatsApp → Settings/);
    assert.match(errorOf(withClient(gas, 'return wa.listKeys();')).message, /needs an admin key \(this key is a user key\)/);
    const qr = errorOf(withClient(gas, "return wa.checkNumbers(['923001234567']);"));
    assert.equal(qr.code, 'WHATSAPP_NOT_CONNECTED');
    assert.match(qr.message, /Open the dashboard \(https:\/\/wa\.example\.com\/\) and scan the QR code/);
    assert.match(qr.message, /Linked devices/);
    const again = errorOf(withClient(gas, "return wa.sendText('923001234567', 'Hi');"));
    assert.equal(again.message.match(/scan the QR/g).length, 1, again.message);
    assert.match(again.message, /the dashboard is at https:\/\/wa\.example\.com\//);
    const reconnecting = errorOf(withClient(gas, "return wa.checkNumbers(['923001234567']);"));
    assert.match(reconnecting.message, /reconnecting; .*\. Try again in a minute/);
    assert.doesNotMatch(reconnecting.message, /scan/, 'a linked session needs no QR code');
  });

  it('waits out 429 RATE_LIMITED for Retry-After seconds and retries, whatever the header case', () => {
    for (const name of ['Retry-After', 'retry-after']) {
      const clock = virtualClock();
      const seen = [];
      const answers = [
        refuse(429, 'RATE_LIMITED', 'too many requests for this key; retry in 7 s', { retryAfter: 7 }, { [name]: '7' }),
        ok(message(8), 202),
      ];
      const gas = project({ clock, transport: (r) => (seen.push({ at: clock.now(), body: jsonOf(r) }), answers.shift()) });
      const sent = valueOf(withClient(gas, "return wa.sendText('923001234567', 'Hi');"));
      assert.equal(sent.id, 8);
      assert.equal(seen.length, 2);
      assert.equal(seen[1].at - seen[0].at, 7000, `slept Retry-After (${name})`);
      assert.deepEqual(seen[1].body, seen[0].body, 'the same request again');
    }
  });

  it('throws RATE_LIMITED with retryAfter when the wait would outlast the run', () => {
    const clock = virtualClock();
    let calls = 0;
    const gas = project({
      clock,
      transport: () => {
        calls += 1;
        clock.skip(4.5 * 60 * 1000); // the run is 4.5 minutes old when the answer arrives
        return refuse(429, 'RATE_LIMITED', 'too many requests for this key; retry in 30 s', { retryAfter: 30 }, { 'retry-after': '30' });
      },
    });
    const error = errorOf(withClient(gas, "return wa.sendBatch([{ to: '923001234567', text: 'Hi' }]);"));
    assert.deepEqual([error.code, error.status, error.retryAfter, calls], ['RATE_LIMITED', 429, 30, 1]);
    assert.equal(gas.state.runs.at(-1).timedOut, false);
  });

  it('does not wait for the daily cap: DAILY_LIMIT_REACHED is thrown at once', () => {
    let calls = 0;
    const gas = project({
      transport: () => (
        (calls += 1),
        refuse(
          429,
          'DAILY_LIMIT_REACHED',
          'the daily send limit of 500 messages is reached; it resets at midnight UTC',
          { retryAfter: 3600, dailyLimit: 500 },
          { 'retry-after': '3600' }
        )
      ),
    });
    const error = errorOf(withClient(gas, "return wa.sendText('923001234567', 'Hi');"));
    assert.deepEqual([error.code, error.retryAfter, calls], ['DAILY_LIMIT_REACHED', 3600, 1]);
  });

  it('reports what is not a wapi answer: a proxy page, a redirect, no connection', () => {
    const answers = [
      { status: 502, headers: [['content-type', 'text/html']], body: new TextEncoder().encode('<html>Bad Gateway</html>') },
      { status: 301, headers: [['location', 'https://wa.example.com/api/status']], body: new Uint8Array() },
    ];
    const gas = project({
      transport: () => {
        if (answers.length) return answers.shift();
        throw new Error('Address unavailable: https://wa.example.com/api/status');
      },
    });
    const proxy = errorOf(withClient(gas, 'return wa.getStatus();'));
    assert.deepEqual([proxy.code, proxy.status], ['BAD_RESPONSE', 502]);
    assert.match(proxy.message, /Bad Gateway/);
    const moved = errorOf(withClient(gas, 'return wa.getStatus();'));
    assert.deepEqual([moved.code, moved.status], ['BAD_RESPONSE', 301]);
    assert.match(moved.message, /redirects to https:\/\/wa\.example\.com/);
    assert.equal(gas.state.requests.length, 2, 'an API call does not follow redirects');
    const down = errorOf(withClient(gas, 'return wa.getStatus();'));
    assert.equal(down.code, 'UNREACHABLE');
    assert.match(down.message, /Address unavailable/);
  });

  it('sends media from a URL: downloads it, then uploads it as multipart with its name and type', () => {
    const pdf = Buffer.from('%PDF-1.4 price list');
    const seen = [];
    const gas = project({
      transport: (r) => {
        seen.push(r);
        if (r.url.startsWith('https://files.example.com/')) {
          return { status: 200, headers: [['Content-Type', 'application/pdf']], body: new Uint8Array(pdf) };
        }
        return ok({ ...message(9), type: 'document' }, 202);
      },
    });
    const sent = valueOf(
      withClient(gas, "return wa.sendMediaFromUrl('923001234567', 'https://files.example.com/docs/price%20list.pdf?v=2', 'Our prices');")
    );
    assert.equal(sent.type, 'document');
    assert.equal(seen[0].method, 'GET');
    const upload = seen[1];
    assert.equal(`${upload.method} ${upload.url}`, `POST ${BASE}/api/messages/media`);
    assert.equal(header(upload, 'X-API-Key'), KEY);
    const parts = multipartOf(upload);
    assert.deepEqual(Object.keys(parts).sort(), ['caption', 'file', 'to']);
    assert.equal(parts.to.text, '923001234567');
    assert.equal(parts.caption.text, 'Our prices');
    assert.deepEqual([parts.file.filename, parts.file.type], ['price list.pdf', 'application/pdf']);
    assert.deepEqual(parts.file.bytes, pdf);
  });

  it('refuses to upload what it could not download', () => {
    const gas = project({ transport: () => ({ status: 404, headers: [], body: new Uint8Array() }) });
    const error = errorOf(withClient(gas, "return wa.sendMediaFromUrl('923001234567', 'https://files.example.com/gone.png');"));
    assert.deepEqual([error.code, error.status], ['DOWNLOAD_FAILED', 404]);
    assert.equal(gas.state.requests.length, 1);
  });

  it('sends a Drive file by id, under its Drive name and type', () => {
    const drive = new DriveModel();
    const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00];
    drive.addFile({ id: '1dRiVeFiLe', name: 'menu.png', mimeType: 'image/png', content: png });
    const seen = [];
    const gas = project({ drive, transport: (r) => (seen.push(r), ok({ ...message(10), type: 'image' }, 202)) });
    valueOf(withClient(gas, "return wa.sendDriveFile('923001234567', '1dRiVeFiLe');"));
    const parts = multipartOf(seen[0]);
    assert.deepEqual([parts.file.filename, parts.file.type], ['menu.png', 'image/png']);
    assert.deepEqual([...parts.file.bytes], png);
    assert.equal(parts.caption, undefined, 'no caption, no field');
  });

  it('calls every endpoint on its documented route and unwraps each answer', () => {
    const seen = [];
    const data = {
      'POST /api/messages/batch': { items: [], queued: 0, refused: 0 },
      'GET /api/status': { connection: { state: 'connected' } },
      'GET /api/messages': { items: [message(1)], nextCursor: 'c2' },
      'GET /api/messages/12': message(12),
      'DELETE /api/messages/12': message(12, 'cancelled'),
      'POST /api/numbers/check': { results: [{ number: '923001234567', onWhatsapp: true, lid: null }] },
      'GET /api/keys': [{ id: 'AbCd1234', role: 'user' }],
      'POST /api/keys': { id: 'AbCd1234', secret: 'wapi_AbCd1234_…' },
      'DELETE /api/keys/AbCd1234': { id: 'AbCd1234', status: 'revoked' },
    };
    const gas = project({
      transport: (r) => {
        const url = new URL(r.url);
        seen.push({ route: `${r.method} ${url.pathname}`, query: url.search, body: r.body && jsonOf(r), key: header(r, 'Idempotency-Key') });
        return ok(data[`${r.method} ${url.pathname}`]);
      },
    });
    const answers = valueOf(
      withClient(
        gas,
        `return [
          wa.sendBatch([{ to: '923001234567', text: 'a', idempotencyKey: 'row-2' }], { idempotencyKey: 'run-1' }),
          wa.getStatus(),
          wa.listMessages({ status: 'queued', cursor: 'abc=', limit: 2 }),
          wa.getMessage(12),
          wa.cancelMessage(12),
          wa.checkNumbers([923001234567]),
          wa.listKeys(),
          wa.createKey('billing app'),
          wa.revokeKey('AbCd1234'),
        ];`
      )
    );
    assert.deepEqual(
      seen.map((s) => s.route),
      Object.keys(data)
    );
    assert.deepEqual(seen[0].body, { items: [{ to: '923001234567', text: 'a', idempotencyKey: 'row-2' }] });
    assert.equal(seen[0].key, 'run-1');
    assert.equal(seen[2].query, '?status=queued&cursor=abc%3D&limit=2');
    assert.deepEqual(seen[5].body, { numbers: ['923001234567'] });
    assert.deepEqual(seen[7].body, { name: 'billing app', role: 'user' });
    const expected = Object.values(data);
    expected[5] = data['POST /api/numbers/check'].results;
    assert.deepEqual(answers, expected);
  });

  it('needs an address and a key, and accepts the address as the dashboard shows it', () => {
    const unset = project({ settings: false });
    assert.equal(errorOf(unset.exec('return WhatsAppApi.fromSettings();')).code, 'NOT_CONFIGURED');
    const gas = project({ transport: () => ok({}) });
    const bases = valueOf(
      gas.exec(`return ['https://wa.example.com/', ' http://203.0.113.7:8080/api ', 'https://host/wapi'].map(function (u) {
        return new WhatsAppApi(u, 'k').baseUrl;
      });`)
    );
    assert.deepEqual(bases, ['https://wa.example.com', 'http://203.0.113.7:8080', 'https://host/wapi']);
    for (const bad of ['wa.example.com', 'ftp://wa.example.com', '']) {
      assert.equal(errorOf(gas.exec(`return new WhatsAppApi(${JSON.stringify(bad)}, 'k');`)).code, 'NOT_CONFIGURED', bad);
    }
  });

  it('never lets UrlFetchApp throw on an HTTP error: every call is muted', () => {
    const internal = { success: false, data: null, error: 'internal error (request id req-0001)', code: 'INTERNAL' };
    const gas = project({ transport: () => reply(500, internal) });
    const error = errorOf(withClient(gas, 'return wa.getMessage(1);'));
    assert.deepEqual([error.code, error.status], ['INTERNAL', 500]);
    assert.ok(gas.state.requests.every((r) => r.muteHttpExceptions));
  });
});
