// A fake Apps Script runtime for a bound script. Each run (a menu click, a dialog's call, a
// trigger, onOpen) evaluates the project's files afresh in a new V8 context — globals do not
// outlive a run, as in Apps Script — with the services below bound to state that does
// (properties, triggers, the spreadsheet, locks). Runs end after 6 minutes: any service called
// past the limit throws, and the run is marked `timedOut`. Services check the manifest's scopes,
// and onOpen (a simple trigger) may not use services that need authorization.

import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

import { virtualClock } from './clock.mjs';
import { DriveModel, makeDriveApp } from './drive.mjs';
import { makeHtmlService } from './html.mjs';
import { LockSlot, makeLockService, releaseAll } from './lock.mjs';
import { PropertyStore, makePropertiesService } from './properties.mjs';
import { makeScriptApp } from './script-app.mjs';
import { SpreadsheetModel, makeSpreadsheetApp } from './spreadsheet.mjs';
import { makeUrlFetchApp } from './url-fetch.mjs';
import { makeUtilities } from './utilities.mjs';

export { realClock, virtualClock } from './clock.mjs';
export { httpTransport } from './http-sync.mjs';
export { SpreadsheetModel } from './spreadsheet.mjs';
export { DriveModel } from './drive.mjs';

export const RUN_LIMIT_MS = 6 * 60 * 1000;

/** Scopes a simple trigger (onOpen) may use: the bound document and its UI. */
const SIMPLE_TRIGGER_SCOPES = [
  'https://www.googleapis.com/auth/spreadsheets.currentonly',
  'https://www.googleapis.com/auth/spreadsheets',
  'https://www.googleapis.com/auth/script.container.ui',
];

/**
 * @param {object} options
 * @param {string[]} options.files the project's .gs files, evaluated in this order
 * @param {string} [options.manifest] appsscript.json; its oauthScopes bound what services may do
 * @param {(request) => {status, headers, body}} [options.transport] where UrlFetchApp's requests go
 */
export function createAppsScript({ files, manifest, transport, clock = virtualClock(), spreadsheet, drive }) {
  const scopes = manifest ? JSON.parse(fs.readFileSync(manifest, 'utf8')).oauthScopes ?? null : null;
  const sources = files.map((file) => ({ file: path.basename(file), code: fs.readFileSync(file, 'utf8') }));
  const state = {
    properties: { script: new PropertyStore(), user: new PropertyStore(), document: new PropertyStore() },
    locks: { document: new LockSlot(), script: new LockSlot(), user: new LockSlot() },
    triggers: [],
    spreadsheet: spreadsheet ?? new SpreadsheetModel(),
    drive: drive ?? new DriveModel(),
    transport: transport ?? (() => {
      throw new Error('fake: this test gave UrlFetchApp no transport');
    }),
    requests: [],
    ui: { menus: [], alerts: [], dialogs: [], answers: [] },
    runs: [],
  };
  let current = null;
  let ids = 4_000_000;

  const timeUp = (run) => clock.now() - run.startedAt > RUN_LIMIT_MS;
  const kill = (run) => {
    run.timedOut = true;
    throw new Error('Exceeded maximum execution time');
  };
  const env = {
    state,
    now: () => clock.now(),
    nextId: () => (ids += 1),
    execution: () => current,
    hasUi: () => current !== null && current.context !== 'trigger',
    guard(name, anyOf = []) {
      if (!current) throw new Error(`fake: ${name} was called outside a run`);
      if (current.timedOut || timeUp(current)) kill(current);
      if (!anyOf.length) return;
      if (current.context === 'simple' && !anyOf.some((s) => SIMPLE_TRIGGER_SCOPES.includes(s))) {
        throw new Error(`You do not have permission to call ${name}`);
      }
      if (scopes && !anyOf.some((s) => scopes.includes(s))) {
        throw new Error(`You do not have permission to call ${name}. Required permissions: ${anyOf[0]}`);
      }
    },
    sleep(ms) {
      const left = current.startedAt + RUN_LIMIT_MS - clock.now();
      if (ms > left) {
        clock.sleep(Math.max(left, 0) + 1);
        kill(current);
      }
      clock.sleep(ms);
    },
  };

  const services = {
    UrlFetchApp: makeUrlFetchApp(env),
    Utilities: makeUtilities(env),
    PropertiesService: makePropertiesService(env),
    LockService: makeLockService(env),
    ScriptApp: makeScriptApp(env),
    HtmlService: makeHtmlService(env),
    SpreadsheetApp: makeSpreadsheetApp(env),
    DriveApp: makeDriveApp(env),
  };

  function newContext(run) {
    const log = (...args) => run.logs.push(args.map(String).join(' '));
    const context = vm.createContext({
      ...services,
      Logger: Object.freeze({ log }),
      console: Object.freeze({ log, info: log, warn: log, error: log }),
    });
    // The script's clock is the fake's: `new Date()` and `Date.now()` read it.
    vm.runInContext(
      `(function (now) {
        const RealDate = Date;
        class ScriptDate extends RealDate {
          constructor(...args) {
            if (args.length === 0) super(now());
            else super(...args);
          }
          static now() { return now(); }
        }
        globalThis.Date = ScriptDate;
      })`,
      context
    )(() => clock.now());
    return context;
  }

  /** One run: the project evaluated afresh, then `body(context)`. */
  function execute(label, context, body) {
    if (current) throw new Error(`fake: ${label} started while ${current.label} runs`);
    const run = { label, context, startedAt: clock.now(), timedOut: false, logs: [], value: undefined, error: null };
    current = run;
    try {
      const ctx = newContext(run);
      for (const { file, code } of sources) new vm.Script(code, { filename: file }).runInContext(ctx);
      run.value = body(ctx);
    } catch (error) {
      run.error = error;
    } finally {
      releaseAll(state.locks, run);
      current = null;
      run.endedAt = clock.now();
      state.runs.push(run);
    }
    return run;
  }

  return {
    state,
    clock,
    /** Runs the global function `name` as a person would from the menu (`context` 'menu'), a
     * dialog ('dialog'), a trigger ('trigger') or onOpen ('simple'); `prelude` runs first. */
    run(name, { context = 'menu', args = [], prelude = '' } = {}) {
      return execute(name, context, (ctx) => {
        if (prelude) vm.runInContext(prelude, ctx);
        if (typeof ctx[name] !== 'function') throw new Error(`Script function not found: ${name}`);
        return ctx[name](...args);
      });
    },
    /** Runs `source` (a function body) in a fresh run, as a function of the project would. */
    exec(source, { context = 'menu' } = {}) {
      return execute('exec', context, (ctx) => vm.runInContext(`(function () {\n${source}\n})()`, ctx));
    },
    /** Opens the spreadsheet: the onOpen simple trigger. */
    open() {
      return this.run('onOpen', { context: 'simple' });
    },
    /** Time-driven triggers due now. */
    dueTriggers() {
      return state.triggers.filter((t) => t.isDue(clock.now()));
    },
    /** Moves the clock to the next trigger's time (virtual clocks only skip; real ones skip too). */
    skipToNextTrigger() {
      const next = Math.min(...state.triggers.filter((t) => t.dueAt !== null).map((t) => t.dueAt));
      if (!Number.isFinite(next)) throw new Error('fake: no trigger is scheduled');
      if (next > clock.now()) clock.skip(next - clock.now());
    },
    /** Fires a trigger: a new run of its handler with a clock event. */
    fire(trigger) {
      if (!trigger.isDue(clock.now())) throw new Error(`fake: trigger ${trigger.id} is not due`);
      trigger.fired += 1;
      trigger.dueAt = trigger.everyMs ? trigger.dueAt + trigger.everyMs : null;
      const at = new Date(clock.now());
      const event = {
        authMode: 'FULL',
        triggerUid: trigger.id,
        year: at.getUTCFullYear(),
        month: at.getUTCMonth() + 1,
        'day-of-month': at.getUTCDate(),
        hour: at.getUTCHours(),
        minute: at.getUTCMinutes(),
        second: at.getUTCSeconds(),
        timezone: 'UTC',
      };
      return this.run(trigger.handler, { context: 'trigger', args: [event] });
    },
  };
}
