// The Sheets menu against the real wapi binary: a 30-row sheet sent through the batch endpoint
// with a rate limit of 3 requests per 2 s. A 429 in the middle of the run is waited out; the run
// is cut at the time limit (the test moves the clock 5 minutes on) and a trigger finishes it;
// every row's outcome is written back; a second run — and a run after the write-back was lost —
// sends nothing twice. tests/e2e/clients.rs then reads what the simulator sent: each row once.

import assert from 'node:assert/strict';
import { after, it } from 'node:test';

import { SpreadsheetModel } from './gas/index.mjs';
import { direct, eventually, liveProject, transport } from './live.mjs';
import { header, valueOf } from './support.mjs';

const NOT_ON_WHATSAPP = process.env.WAPI_NOT_ON_WHATSAPP;
const ROWS = Array.from({ length: 30 }, (_, i) => [String(15550001000 + i), `Customer ${i + 1}`, 'Hello {{Name}}!']);

after(() => transport.close());

it('sends a 30-row sheet once, through a 429 and the time limit', () => {
  assert.ok(ROWS.some(([phone]) => phone === NOT_ON_WHATSAPP), 'one row is not on WhatsApp');
  const spreadsheet = new SpreadsheetModel();
  const sheet = spreadsheet.addSheet('Customers', [['Phone', 'Name', 'Message'], ...ROWS]);
  const gas = liveProject({ spreadsheet });
  const prelude = 'WAPI_ROWS_PER_REQUEST = 5;';
  const batches = [];
  let spent = false;
  gas.state.transport = (request) => {
    const isBatch = request.method === 'POST' && new URL(request.url).pathname === '/api/messages/batch';
    if (isBatch && batches.filter((b) => b.status === 200).length === 1 && !spent) {
      spent = true;
      spendTheSendBudget();
    }
    const reply = transport(request);
    if (isBatch) {
      batches.push({ at: Date.now(), status: reply.status, retryAfter: Number(header(reply, 'retry-after')) });
      if (reply.status === 200 && batches.filter((b) => b.status === 200).length === 3) gas.clock.skip(5 * 60_000);
    }
    return reply;
  };

  // Run 1, from the menu: a 429 before the second batch is waited out; after the third, the
  // clock says five minutes have gone by, and the run pauses.
  const first = gas.run('wapiSendAllRows', { prelude });
  valueOf(first);
  const limited = batches.findIndex((b) => b.status === 429);
  assert.equal(limited, 1, `the second batch met the rate limit: ${JSON.stringify(batches)}`);
  assert.ok(batches[limited].retryAfter >= 1);
  assert.equal(batches[limited + 1].status, 200, 'and went through once the client had waited');
  assert.ok(batches[limited + 1].at - batches[limited].at >= batches[limited].retryAfter * 1000 - 20, 'after Retry-After');
  assert.equal(batches.filter((b) => b.status === 200).length, 3);
  assert.deepEqual(written(sheet).slice(15), Array(15).fill(['', '']), 'rows 17 on are left for later');
  assert.match(gas.state.ui.alerts.at(-1).prompt, /^Paused at 15 of 30 rows/);
  assert.deepEqual(gas.state.triggers.map((t) => t.handler), ['wapiContinueSending']);

  // A minute later the trigger runs the rest.
  gas.skipToNextTrigger();
  valueOf(gas.fire(gas.dueTriggers()[0]));
  assert.deepEqual(gas.state.triggers, []);
  const rows = written(sheet);
  const refusedAt = ROWS.findIndex(([phone]) => phone === NOT_ON_WHATSAPP);
  rows.forEach(([status, id], i) => {
    if (i === refusedAt) {
      assert.deepEqual([status, id], [`RECIPIENT_NOT_FOUND: ${NOT_ON_WHATSAPP} is not on WhatsApp`, ''], `row ${i + 2}`);
    } else {
      assert.ok(['queued', 'sent'].includes(status) && Number.isInteger(id), `row ${i + 2}: ${status} ${id}`);
    }
  });
  const ids = rows.map(([, id]) => id).filter(Number.isInteger);
  assert.equal(new Set(ids).size, 29);
  assert.ok(sheet.column('Time').every((t) => Object.prototype.toString.call(t) === '[object Date]'));
  assert.ok(gas.state.runs.every((r) => !r.timedOut));

  // A second run sends nothing again (the refused row is tried, and refused, again).
  const accepted = () => direct('GET', '/api/status').body.data.acceptedToday;
  const before = accepted();
  valueOf(gas.run('wapiSendAllRows', { prelude }));
  assert.equal(accepted(), before);
  assert.deepEqual(written(sheet), rows);

  // A run whose write-back was lost: the gateway knows every row by its key and replays it.
  for (let row = 2; row <= 31; row += 1) {
    sheet.write(row, 4, { value: '' });
    sheet.write(row, 5, { value: '' });
  }
  valueOf(gas.run('wapiSendAllRows', { prelude }));
  assert.equal(accepted(), before, 'nothing was queued twice');
  assert.deepEqual(written(sheet).map(([, id]) => id), rows.map(([, id]) => id), 'the same ids came back');

  // Once the queue has drained, Refresh statuses shows every message sent.
  eventually('the queue to drain', 30_000, () => direct('GET', '/api/status').body.data.pendingMessages === 0);
  valueOf(gas.run('wapiRefreshStatuses'));
  written(sheet).forEach(([status], i) => assert.equal(status, i === refusedAt ? rows[i][0] : 'sent', `row ${i + 2}`));
});

/** Rows 2…31 as [Status, Message ID]. */
function written(sheet) {
  return sheet.column('Status').map((status, i) => [status, sheet.column('Message ID')[i]]);
}

/** Uses up the key's send budget (number checks count against it) until the gateway says 429. */
function spendTheSendBudget() {
  for (let i = 0; i < 20; i += 1) {
    if (direct('POST', '/api/numbers/check', { numbers: ['15550009999'] }).status === 429) return;
  }
  assert.fail('the send budget never ran out');
}
