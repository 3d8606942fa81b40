// The Sheets menu offline, on the fake Apps Script with a model of the gateway and a virtual
// clock: the menu, the Settings dialog, sending rows (placeholders, write-back, idempotency),
// the 6-minute limit and the trigger that resumes, the lock, refusals, number checks.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SpreadsheetModel, virtualClock } from './gas/index.mjs';
import { BASE, KEY, ModelGateway, header, jsonOf, ok, project, refuse, valueOf } from './support.mjs';

const HEADERS = ['Phone', 'Name', 'City', 'Message'];

/** A spreadsheet with one sheet "Customers": HEADERS, then `rows`. */
function customers(rows) {
  const spreadsheet = new SpreadsheetModel();
  const sheet = spreadsheet.addSheet('Customers', [HEADERS, ...rows]);
  return { spreadsheet, sheet };
}

/** A gateway model, a project on `rows` and the pieces tests look at. */
function setup(rows, gatewayOptions = {}) {
  const clock = virtualClock();
  const gateway = new ModelGateway({ clock, ...gatewayOptions });
  const { spreadsheet, sheet } = customers(rows);
  const gas = project({ clock, spreadsheet, transport: gateway.transport });
  return { clock, gateway, spreadsheet, sheet, gas };
}

/** Rows 2… as [status, message id] pairs. */
function outcomes(sheet) {
  return sheet.column('Status').map((status, i) => [status, sheet.column('Message ID')[i]]);
}

const lastAlert = (gas) => gas.state.ui.alerts.at(-1);
/** Leaves a paused send of the Customers sheet, as a run that ran out of time would. */
const pausedJob = (gas, fields) =>
  gas.state.properties.document.map.set(
    'wapi.job',
    JSON.stringify({ sheetId: 0, spans: null, nextRow: 2, total: 10, done: 0, accepted: 0, refused: 0, ...fields })
  );
const job = (gas) => JSON.parse(gas.state.properties.document.map.get('wapi.job') ?? 'null');
const statusNote = (sheet) => sheet.cell(1, sheet.rowValues(1).indexOf('Status') + 1).note;

describe('the WhatsApp menu', () => {
  it('is added on open (a simple trigger) and names only public functions of the script', () => {
    const { gas } = setup([]);
    valueOf(gas.open());
    const [menu] = gas.state.ui.menus;
    assert.equal(menu.caption, 'WhatsApp');
    const items = menu.items.filter((i) => !i.separator);
    assert.deepEqual(
      items.map((i) => i.caption),
      ['Send to all rows', 'Send selected rows', 'Check numbers', 'Refresh statuses', 'Settings']
    );
    for (const { functionName } of items) {
      assert.ok(!functionName.endsWith('_'), `${functionName}: a menu cannot call a private function`);
      assert.equal(valueOf(gas.exec(`return typeof ${functionName};`)), 'function', functionName);
    }
  });

  it('Settings: tests the address and key, keeps them in user properties, never shows the key again', () => {
    const { gas, gateway, sheet } = setup([['923001234567', 'Ali', 'Lahore', 'Hi']]);
    gas.state.properties.user.map.clear();
    valueOf(gas.run('wapiShowSettings'));
    const [dialog] = gas.state.ui.dialogs;
    assert.equal(dialog.title, 'WhatsApp settings');
    assert.match(dialog.html, /google\.script\.run/);
    const called = [...dialog.html.matchAll(/\.(wapi\w*)\(/g)].map((m) => m[1]);
    assert.deepEqual(called, ['wapiSaveSettings'], 'the dialog calls the server function that saves');
    assert.match(dialog.html, /name="url"/);
    assert.match(dialog.html, /name="key" type="password"/);

    const bad = gas.run('wapiSaveSettings', { context: 'dialog', args: [BASE, 'not-a-key'] });
    assert.match(bad.error.message, /wapi_xxxxxxxx_/);
    gateway.key = 'wapi_Other000_0123456789abcdefghijABCDEFGHIJKL';
    const refused = gas.run('wapiSaveSettings', { context: 'dialog', args: [BASE, KEY] });
    assert.match(refused.error.message, /check the API key/);
    assert.deepEqual(gas.state.properties.user.snapshot(), {}, 'nothing saved that does not work');

    gateway.key = KEY;
    const saved = valueOf(gas.run('wapiSaveSettings', { context: 'dialog', args: [`${BASE}/api/`, ` ${KEY} `] }));
    assert.match(saved, /^Saved\. The gateway answers: WhatsApp connected \(15550001111\), 0 in the queue/);
    assert.deepEqual(gas.state.properties.user.snapshot(), { 'wapi.url': BASE, 'wapi.key': KEY });
    assert.equal(header(gateway.requests.at(-1), 'X-API-Key'), KEY);

    valueOf(gas.run('wapiShowSettings'));
    const again = gas.state.ui.dialogs[1].html;
    assert.ok(again.includes(`value="${BASE}"`));
    assert.ok(!again.includes(KEY), 'the saved key is not sent to the browser');
    assert.ok(again.includes('wapi_Sheets01_…'), 'only its public prefix');
    valueOf(gas.run('wapiSaveSettings', { context: 'dialog', args: ['http://203.0.113.7:8080', ''] }));
    assert.equal(gas.state.properties.user.map.get('wapi.key'), KEY, 'an empty key keeps the saved one');
    const cells = JSON.stringify(sheet.cells);
    assert.ok(!cells.includes(KEY.slice(14)), 'the key is never written into the sheet');
  });
});

describe('Send to all rows', () => {
  const rows = [
    ['923001234567', 'Ali', 'Lahore', 'Hello {{Name}} from {{City}}!'],
    ['+92 300 7654321', 'Sara', 'Karachi', 'Hi {{ name }}, see you in {{City}}.'],
    ['923001111111', 'Omar', '', 'Hello {{Nickname}}'],
    ['', 'Nobody', '', 'Hello'],
    ['923009999999', 'Zed', 'Quetta', 'Hello {{Name}}'],
    [923002222222, 'Noor', 'Multan', 'Salam {{Name}}'],
    ['', '', '', ''],
    ['923003333333', 'Bilal', 'Islamabad', 'Hello {{Name}}'],
  ];

  it('fills placeholders, sends batches with a key per row, and writes status, id and time back', () => {
    const { gas, gateway, sheet, spreadsheet, clock } = setup(rows, { notOnWhatsApp: ['923009999999'] });
    valueOf(gas.run('wapiSendAllRows', { prelude: 'WAPI_ROWS_PER_REQUEST = 2;' }));

    assert.deepEqual(sheet.rowValues(1), [...HEADERS, 'Status', 'Message ID', 'Time']);
    const batches = gateway.batches().map(jsonOf);
    assert.equal(batches.length, 3, 'rows 4 and 5 never reach the gateway');
    const items = batches.flatMap((b) => b.items);
    assert.deepEqual(
      items.map((i) => [i.to, i.text]),
      [
        ['923001234567', 'Hello Ali from Lahore!'],
        ['923007654321', 'Hi Sara, see you in Karachi.'],
        ['923009999999', 'Hello Zed'],
        ['923002222222', 'Salam Noor'],
        ['923003333333', 'Hello Bilal'],
      ]
    );
    for (const item of items) assert.match(item.idempotencyKey, new RegExp(`^sheets:${spreadsheet.id}:0:\\d+:[\\w-]{22}$`));
    assert.equal(new Set(items.map((i) => i.idempotencyKey)).size, items.length);

    assert.deepEqual(outcomes(sheet), [
      ['queued', 1],
      ['queued', 2],
      ['error: no column named Nickname for {{Nickname}}', ''],
      ['error: no phone number', ''],
      ['RECIPIENT_NOT_FOUND: 923009999999 is not on WhatsApp', ''],
      ['queued', 3],
      ['', ''],
      ['queued', 4],
    ]);
    const times = sheet.column('Time');
    assert.equal(times[0].getTime(), Date.parse(gateway.messages[0].createdAt));
    assert.equal(times[2].getTime(), clock.now());
    assert.equal(times[6], '');

    assert.deepEqual(lastAlert(gas), { title: 'WhatsApp', prompt: 'Done: 7 rows — 4 accepted, 3 refused (see Status).', buttons: 'OK' });
    assert.match(statusNote(sheet), /Done: 7 rows/);
    assert.deepEqual(spreadsheet.toasts.map((t) => t.msg), ['2 of 7 rows done', '4 of 7 rows done', '6 of 7 rows done', '7 of 7 rows done']);
    assert.ok(spreadsheet.flushes >= 4, 'progress reaches the sheet after every batch');
    assert.equal(job(gas), null);
    assert.deepEqual(gas.state.triggers, []);
  });

  it('never sends a row twice: rows with a Message ID are skipped, and a lost write-back is replayed', () => {
    const { gas, gateway, sheet } = setup(rows, { notOnWhatsApp: ['923009999999'] });
    valueOf(gas.run('wapiSendAllRows'));
    const first = outcomes(sheet);
    assert.equal(gateway.messages.length, 4);

    valueOf(gas.run('wapiSendAllRows'));
    assert.equal(gateway.messages.length, 4, 'the second run queued nothing');
    assert.deepEqual(gateway.batches().map((r) => jsonOf(r).items.map((i) => i.to)).at(-1), ['923009999999'], 'only the refused row was tried again');
    assert.deepEqual(outcomes(sheet), first);
    assert.equal(lastAlert(gas).prompt, 'Done: 3 rows — 0 accepted, 3 refused (see Status).');

    // The run that queued row 2 died before it wrote the Message ID back.
    sheet.write(2, 5, { value: '' });
    sheet.write(2, 6, { value: '' });
    valueOf(gas.run('wapiSendAllRows'));
    assert.equal(gateway.messages.length, 4, 'the gateway recognised the row by its key');
    assert.deepEqual(outcomes(sheet)[0], ['queued', 1]);
  });

  it('sends only the selected rows with Send selected rows', () => {
    const { gas, gateway, sheet, spreadsheet } = setup(rows);
    spreadsheet.select(sheet, 'B3', 'A7:D7', 'C1');
    valueOf(gas.run('wapiSendSelectedRows'));
    assert.deepEqual(gateway.batches().flatMap((r) => jsonOf(r).items.map((i) => i.to)), ['923007654321', '923002222222']);
    assert.deepEqual(sheet.column('Message ID'), ['', 1, '', '', '', 2, '', '']);

    spreadsheet.select(sheet, 'A3:D3');
    valueOf(gas.run('wapiSendSelectedRows'));
    assert.equal(lastAlert(gas).prompt, 'Nothing to send: every selected row with a phone number already has a Message ID.');
    assert.equal(gateway.batches().length, 1, 'no request for nothing');

    spreadsheet.select(sheet, 'A1:D1');
    valueOf(gas.run('wapiSendSelectedRows'));
    assert.match(lastAlert(gas).prompt, /Select the rows to send first/);
  });
});

describe('a long send', () => {
  const tenRows = Array.from({ length: 10 }, (_, i) => [`9230000000${String(i).padStart(2, '0')}`, `C${i}`, '', 'Hi {{Name}}']);

  it('stops before the 6-minute limit and a time-driven trigger continues it', () => {
    const { gas, gateway, sheet, clock } = setup(tenRows);
    gateway.onRequest = () => clock.skip(70_000); // a slow network: 70 s per batch
    const prelude = 'WAPI_ROWS_PER_REQUEST = 1;';
    const first = gas.run('wapiSendAllRows', { prelude });
    valueOf(first);
    assert.equal(first.endedAt - first.startedAt < 6 * 60_000, true);
    assert.equal(gateway.batches().length, 5);
    assert.deepEqual(sheet.column('Message ID'), [1, 2, 3, 4, 5, '', '', '', '', '']);
    assert.deepEqual(
      gas.state.triggers.map((t) => [t.handler, t.dueAt - clock.now()]),
      [['wapiContinueSending', 60_000]]
    );
    assert.deepEqual(job(gas), { sheetId: 0, spans: null, nextRow: 7, total: 10, done: 5, accepted: 5, refused: 0 });
    assert.match(lastAlert(gas).prompt, /^Paused at 5 of 10 rows \(Apps Script runs for 6 minutes at most\); it continues by itself in about 1 minute\.$/);
    assert.match(statusNote(sheet), /Paused at 5 of 10 rows/);

    gas.skipToNextTrigger();
    const [trigger] = gas.dueTriggers();
    const resumed = gas.fire(trigger);
    valueOf(resumed);
    assert.equal(resumed.context, 'trigger');
    assert.deepEqual(sheet.column('Message ID'), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(gateway.messages.length, 10);
    assert.deepEqual(gas.state.triggers, [], 'the trigger is deleted');
    assert.equal(job(gas), null);
    assert.match(statusNote(sheet), /Done: 10 rows — 10 accepted, 0 refused/);
    assert.ok(gas.state.runs.every((r) => !r.timedOut));
  });

  it('pauses for a 429 it cannot wait out in this run, and continues after Retry-After', () => {
    const { gas, gateway, sheet, clock } = setup(tenRows);
    gateway.refuseNext.push(refuse(429, 'RATE_LIMITED', 'too many requests for this key; retry in 400 s', { retryAfter: 400 }, { 'retry-after': '400' }));
    valueOf(gas.run('wapiSendAllRows'));
    assert.deepEqual(sheet.column('Message ID'), Array(10).fill(''));
    assert.deepEqual(gas.state.triggers.map((t) => t.dueAt - clock.now()), [400_000]);
    assert.match(lastAlert(gas).prompt, /Paused at 0 of 10 rows \(the gateway asked to slow down: too many requests.*\); .* in about 7 minutes/);
    gas.skipToNextTrigger();
    valueOf(gas.fire(gas.dueTriggers()[0]));
    assert.equal(gateway.messages.length, 10);
    assert.deepEqual(gas.state.triggers, []);
  });

  it("pauses when the gateway's database is busy and stops with what to do when its disk is full", () => {
    const { gas, gateway } = setup(tenRows);
    gateway.refuseNext.push(refuse(503, 'STORAGE_BUSY', 'the database is locked by another process: nothing was stored; retry in a few seconds'));
    valueOf(gas.run('wapiSendAllRows'));
    assert.equal(gas.state.triggers.length, 1, 'a trigger resumes the run');
    assert.match(lastAlert(gas).prompt, /Paused at 0 of 10 rows \(the gateway is busy: the database is locked by another process/);
    gas.skipToNextTrigger();
    valueOf(gas.fire(gas.dueTriggers()[0]));
    assert.equal(gateway.messages.length, 10);

    const full = setup(tenRows);
    full.gateway.refuseNext.push(refuse(503, 'STORAGE_FULL', "the gateway's disk is full: nothing was stored; retry once space is freed"));
    valueOf(full.gas.run('wapiSendAllRows'));
    assert.deepEqual(full.gas.state.triggers, []);
    assert.match(statusNote(full.sheet), /Stopped: the gateway's disk is full: nothing was stored; retry once space is freed \(ask whoever runs the gateway to free disk space/);
    assert.deepEqual(full.sheet.column('Message ID'), Array(10).fill(''));
  });

  it('refuses to overlap another run; a trigger that meets one tries again later', () => {
    const { gas, gateway, clock } = setup(tenRows);
    gas.state.locks.document.holder = 'another run';
    valueOf(gas.run('wapiSendAllRows'));
    assert.match(lastAlert(gas).prompt, /already running/);
    assert.equal(gateway.requests.length, 0);

    pausedJob(gas, {});
    valueOf(gas.run('wapiContinueSending', { context: 'trigger' }));
    assert.equal(gateway.requests.length, 0);
    assert.deepEqual(gas.state.triggers.map((t) => [t.handler, t.dueAt - clock.now()]), [['wapiContinueSending', 60_000]]);

    gas.state.locks.document.holder = null;
    gas.skipToNextTrigger();
    valueOf(gas.fire(gas.dueTriggers()[0]));
    assert.equal(gateway.messages.length, 10);
  });

  it('asks before replacing a paused send', () => {
    const { gas, gateway } = setup(tenRows);
    pausedJob(gas, { nextRow: 5, done: 3, accepted: 3 });
    valueOf(gas.exec("ScriptApp.newTrigger('wapiContinueSending').timeBased().after(60000).create();"));
    gas.state.ui.answers.push('NO');
    valueOf(gas.run('wapiSendAllRows'));
    assert.match(lastAlert(gas).prompt, /paused at 3 of 10 rows/);
    assert.equal(gateway.requests.length, 0);
    assert.equal(gas.state.triggers.length, 1);

    gas.state.ui.answers.push('YES');
    valueOf(gas.run('wapiSendAllRows'));
    assert.equal(gateway.messages.length, 10, 'the new send covers every row without a Message ID');
    assert.deepEqual(gas.state.triggers, []);
  });
});

describe('refusals that stop a send', () => {
  const rows = Array.from({ length: 5 }, (_, i) => [`92300000010${i}`, `C${i}`, '', 'Hi {{Name}}']);

  it('503: nothing is marked, and the alert says to scan the QR code', () => {
    const { gas, gateway, sheet } = setup(rows);
    gateway.connected = false;
    valueOf(gas.run('wapiSendAllRows'));
    const alert = lastAlert(gas);
    assert.equal(alert.title, 'WhatsApp: not everything was sent');
    assert.match(alert.prompt, /scan the QR/);
    assert.deepEqual(sheet.column('Status'), Array(5).fill(''));
    assert.equal(job(gas), null);

    // From a trigger, the run fails (Apps Script mails its owner) and notes why on the sheet.
    pausedJob(gas, { total: 5 });
    const fromTrigger = gas.run('wapiContinueSending', { context: 'trigger' });
    assert.match(fromTrigger.error.message, /scan the QR/);
    assert.match(statusNote(sheet), /Stopped: .*scan the QR/);
  });

  it('the daily cap: the rows after it stay unsent, and the alert says when to try again', () => {
    const { gas, gateway, sheet } = setup(rows, { dailyLimit: 3 });
    valueOf(gas.run('wapiSendAllRows', { prelude: 'WAPI_ROWS_PER_REQUEST = 2;' }));
    assert.equal(gateway.batches().length, 2);
    assert.deepEqual(outcomes(sheet), [
      ['queued', 1],
      ['queued', 2],
      ['queued', 3],
      ['DAILY_LIMIT_REACHED: the daily send limit of 3 messages is reached; it resets at midnight UTC', ''],
      ['', ''],
    ]);
    assert.match(lastAlert(gas).prompt, /Rows without a Message ID were not sent: send them again after midnight UTC/);
  });

  it('without settings, the alert points to Settings', () => {
    const { gas } = setup(rows);
    gas.state.properties.user.map.clear();
    valueOf(gas.run('wapiSendAllRows'));
    assert.match(lastAlert(gas).prompt, /WhatsApp menu → Settings/);
  });

  it('a sheet without Phone and Message headers is refused with what to add', () => {
    const spreadsheet = new SpreadsheetModel();
    spreadsheet.addSheet('Other', [['Number', 'Body'], ['923001234567', 'Hi']]);
    const gas = project({ spreadsheet, transport: () => ok({}) });
    valueOf(gas.run('wapiSendAllRows'));
    assert.match(lastAlert(gas).prompt, /needs a "Phone" header .* a "Message" header/);
    assert.equal(gas.state.requests.length, 0);
    assert.equal(job(gas), null, 'a failed send leaves nothing to resume');
  });
});

describe('Check numbers and Refresh statuses', () => {
  it('writes yes, no or why not into an On WhatsApp column', () => {
    const { gas, gateway, sheet } = setup(
      [
        ['923001234567', 'A', '', ''],
        ['923009999999', 'B', '', ''],
        ['0300123', 'C', '', ''],
        ['120363012345678901@g.us', 'D', '', ''],
        ['', 'E', '', ''],
      ],
      { notOnWhatsApp: ['923009999999'] }
    );
    valueOf(gas.run('wapiCheckNumbers'));
    assert.deepEqual(jsonOf(gateway.requests[0]), { numbers: ['923001234567', '923009999999'] });
    assert.deepEqual(sheet.column('On WhatsApp'), ['yes', 'no', 'invalid: must have 8 to 15 digits', 'invalid: a group, not a phone number', '']);
    assert.equal(lastAlert(gas).prompt, '1 on WhatsApp, 1 not, 2 not valid numbers.');
  });

  it('asks what became of queued rows and writes it back', () => {
    const { gas, gateway, sheet, clock } = setup([
      ['923001234567', 'A', '', 'Hi'],
      ['923001234568', 'B', '', 'Hi'],
    ]);
    valueOf(gas.run('wapiSendAllRows'));
    clock.skip(30_000);
    gateway.drain();
    valueOf(gas.run('wapiRefreshStatuses'));
    assert.deepEqual(outcomes(sheet), [['sent', 1], ['sent', 2]]);
    assert.equal(sheet.column('Time')[1].getTime(), clock.now());
    assert.equal(lastAlert(gas).prompt, '2 rows refreshed.');
    const reads = gateway.requests.filter((r) => r.method === 'GET').map((r) => new URL(r.url).pathname);
    assert.deepEqual(reads, ['/api/messages/1', '/api/messages/2']);

    valueOf(gas.run('wapiRefreshStatuses'));
    assert.equal(lastAlert(gas).prompt, '0 rows refreshed.', 'sent is final: nothing to ask');
  });
});
