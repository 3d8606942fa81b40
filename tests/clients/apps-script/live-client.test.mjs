// WhatsAppApi against the real wapi binary (simulator backend): every endpoint the client
// covers, through the fake UrlFetchApp making real HTTP calls — so the fakes' requests (JSON,
// multipart) and the client's reading of the answers meet the real server.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { DriveModel } from './gas/index.mjs';
import { ADMIN_KEY, GATEWAY, direct, eventually, liveProject, transport } from './live.mjs';
import { valueOf } from './support.mjs';

const TO = '15550009999';
const NOT_ON_WHATSAPP = process.env.WAPI_NOT_ON_WHATSAPP;
const DOT_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

after(() => transport.close());

const drive = new DriveModel();
drive.addFile({ id: '1dotPng', name: 'dot.png', mimeType: 'image/png', content: [...Buffer.from(DOT_PNG, 'base64')] });
const gas = liveProject({ drive });

/** Runs `source` with `wa` (the saved settings' client) in scope; answers its value. */
const call = (source) => valueOf(gas.exec(`var wa = WhatsAppApi.fromSettings();\n${source}`));

/** Runs `source`; answers the WhatsAppApiError it threw, as plain fields. */
function refusal(source) {
  const run = gas.exec(`var wa = WhatsAppApi.fromSettings();\n${source}`);
  assert.ok(run.error, `expected a refusal, got ${JSON.stringify(run.value)}`);
  const { code, status, message, retryAfter } = run.error;
  return { code, status, message, retryAfter };
}

function simulator(action) {
  assert.equal(direct('POST', '/api/simulator', { action }).status, 200);
}

describe('WhatsAppApi on the real gateway', () => {
  it('Settings checks the address and key against the gateway before saving them', () => {
    const fresh = liveProject({ settings: false });
    const saved = valueOf(fresh.run('wapiSaveSettings', { context: 'dialog', args: [`${GATEWAY}/`, ADMIN_KEY] }));
    assert.match(saved, /^Saved\. The gateway answers: WhatsApp connected .*; an admin key\.$/);
    assert.deepEqual(fresh.state.properties.user.snapshot(), { 'wapi.url': GATEWAY, 'wapi.key': ADMIN_KEY });
  });

  it('reads the status', () => {
    const status = call('return wa.getStatus();');
    assert.equal(status.connection.state, 'connected');
    assert.equal(status.connection.backend, 'simulator');
    assert.equal(status.keyRole, 'admin');
  });

  it('sends a text, and the same idempotency key sends it once', () => {
    const [first, again] = call(`return [
      wa.sendText('${TO}', 'live text', { idempotencyKey: 'live-text-1' }),
      wa.sendText('${TO}', 'live text', { idempotencyKey: 'live-text-1' }),
    ];`);
    assert.ok(['sent', 'queued'].includes(first.status), first.status);
    assert.equal(first.text, 'live text');
    assert.equal(again.id, first.id);
  });

  it('sends media downloaded from a URL, and a Drive file', () => {
    const [fromUrl, fromDrive] = call(`return [
      wa.sendMediaFromUrl('${TO}', '${GATEWAY}/api/openapi.json', 'the API'),
      wa.sendDriveFile('${TO}', '1dotPng', 'a dot'),
    ];`);
    assert.deepEqual(
      [fromUrl.type, fromUrl.text, fromUrl.media.fileName, fromUrl.media.mimeType],
      ['document', 'the API', 'openapi.json', 'application/json']
    );
    assert.ok(fromUrl.media.size > 1000);
    assert.deepEqual([fromDrive.type, fromDrive.media.fileName, fromDrive.media.size], ['image', 'dot.png', 70]);
  });

  it('sends a batch: one result per item', () => {
    const batch = call(`return wa.sendBatch([
      { to: '${TO}', text: 'batch 0' },
      { to: '12ab', text: 'batch 1' },
      { to: '${NOT_ON_WHATSAPP}', text: 'batch 2' },
    ]);`);
    assert.deepEqual([batch.queued, batch.refused], [1, 2]);
    assert.deepEqual(
      batch.items.map((i) => [i.index, i.success, i.code]),
      [[0, true, null], [1, false, 'VALIDATION_ERROR'], [2, false, 'RECIPIENT_NOT_FOUND']]
    );
  });

  it('lists messages by pages and status, and reads one with its history', () => {
    eventually('the queue to drain', 20_000, () => call('return wa.getStatus();').pendingMessages === 0);
    const page = call('return wa.listMessages({ limit: 2 });');
    assert.equal(page.items.length, 2);
    assert.ok(page.nextCursor);
    const next = call(`return wa.listMessages({ limit: 2, cursor: ${JSON.stringify(page.nextCursor)} });`);
    assert.ok(next.items.every((m) => m.id < page.items[1].id), 'newest first, page after page');
    const sent = call("return wa.listMessages({ status: 'sent', limit: 500 });");
    assert.ok(sent.items.length >= 4 && sent.items.every((m) => m.status === 'sent'));
    const one = call(`return wa.getMessage(${page.items[0].id});`);
    assert.deepEqual(one.history.map((h) => h.status), ['queued', 'sending', 'sent']);
    assert.equal(refusal('return wa.getMessage(999999);').code, 'NOT_FOUND');
  });

  it('cancels a queued message; a second cancel is a CONFLICT', () => {
    simulator('disconnect');
    try {
      const queued = call(`return wa.sendText('${TO}', 'to be cancelled');`);
      assert.equal(queued.status, 'queued');
      assert.equal(call(`return wa.cancelMessage(${queued.id});`).status, 'cancelled');
      const again = refusal(`return wa.cancelMessage(${queued.id});`);
      assert.deepEqual([again.code, again.status], ['CONFLICT', 409]);
    } finally {
      simulator('link');
    }
  });

  it('checks numbers', () => {
    const results = call(`return wa.checkNumbers(['${TO}', ${NOT_ON_WHATSAPP}]);`);
    assert.deepEqual(results.map((r) => [r.number, r.onWhatsapp]), [[TO, true], [NOT_ON_WHATSAPP, false]]);
  });

  it('manages keys with an admin key; a user key may send but not manage; a revoked key is refused', () => {
    const created = call("return wa.createKey('apps script live test', 'user');");
    assert.match(created.secret, /^wapi_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/);
    assert.equal(created.role, 'user');
    assert.ok(call('return wa.listKeys();').some((k) => k.id === created.id && k.status === 'active'));

    const asUser = (source) => gas.exec(`var user = new WhatsAppApi('${GATEWAY}', '${created.secret}');\n${source}`);
    assert.equal(valueOf(asUser(`return user.sendText('${TO}', 'from a user key');`)).to, TO);
    const forbidden = asUser('return user.listKeys();').error;
    assert.deepEqual([forbidden.code, forbidden.status], ['ADMIN_REQUIRED', 403]);

    assert.equal(call(`return wa.revokeKey('${created.id}');`).status, 'revoked');
    const revoked = asUser('return user.getStatus();').error;
    assert.deepEqual([revoked.code, revoked.status], ['UNAUTHORIZED', 401]);
    assert.match(revoked.message, /check the API key in WhatsApp → Settings/);
  });

  it('explains 503: open the dashboard and scan the QR', () => {
    simulator('logout');
    try {
      const send = refusal(`return wa.sendText('${TO}', 'nobody is linked');`);
      assert.deepEqual([send.code, send.status], ['WHATSAPP_NOT_CONNECTED', 503]);
      assert.match(send.message, /scan the QR/);
      assert.ok(send.message.includes(`the dashboard is at ${GATEWAY}/`), send.message);
      const check = refusal(`return wa.checkNumbers(['${TO}']);`);
      assert.equal(check.code, 'WHATSAPP_NOT_CONNECTED');
      assert.ok(check.message.includes(`Open the dashboard (${GATEWAY}/) and scan the QR code`), check.message);
    } finally {
      simulator('link');
    }
    eventually('the session to link again', 10_000, () => call('return wa.getStatus();').connection.state === 'connected');
  });
});
