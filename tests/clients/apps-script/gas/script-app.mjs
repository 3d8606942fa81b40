// ScriptApp's triggers: time-driven triggers built with newTrigger(…).timeBased(), listed,
// deleted; at most 20 per user and script. A one-time trigger (`after`, `at`) runs once and stays
// listed until it is deleted. The environment fires due triggers as new runs.

const MAX_TRIGGERS = 20;
const SCOPE = 'https://www.googleapis.com/auth/script.scriptapp';

export const EventType = Object.freeze({ CLOCK: 'CLOCK', ON_OPEN: 'ON_OPEN', ON_EDIT: 'ON_EDIT', ON_FORM_SUBMIT: 'ON_FORM_SUBMIT', ON_CHANGE: 'ON_CHANGE' });
export const TriggerSource = Object.freeze({ SPREADSHEETS: 'SPREADSHEETS', CLOCK: 'CLOCK', FORMS: 'FORMS', DOCUMENTS: 'DOCUMENTS', CALENDAR: 'CALENDAR' });

/** What the environment keeps of a trigger. */
export class TriggerRecord {
  constructor({ id, handler, dueAt, everyMs }) {
    Object.assign(this, { id, handler, dueAt, everyMs, fired: 0 });
  }

  isDue(now) {
    return this.dueAt !== null && this.dueAt <= now;
  }
}

class Trigger {
  #record;

  constructor(record) {
    this.#record = record;
  }

  static record(trigger) {
    return trigger.#record;
  }

  getHandlerFunction() {
    return this.#record.handler;
  }

  getUniqueId() {
    return this.#record.id;
  }

  getEventType() {
    return EventType.CLOCK;
  }

  getTriggerSource() {
    return TriggerSource.CLOCK;
  }

  getTriggerSourceId() {
    return null;
  }
}

class ClockTriggerBuilder {
  #env;
  #handler;
  #dueAt = null;
  #everyMs = null;

  constructor(env, handler) {
    this.#env = env;
    this.#handler = handler;
  }

  after(durationMilliseconds) {
    if (!Number.isInteger(durationMilliseconds) || durationMilliseconds < 0) {
      throw new Error(`Invalid argument: durationMilliseconds (${durationMilliseconds})`);
    }
    this.#dueAt = this.#env.now() + durationMilliseconds;
    return this;
  }

  at(date) {
    this.#dueAt = date.getTime();
    return this;
  }

  everyMinutes(n) {
    if (![1, 5, 10, 15, 30].includes(n)) throw new Error('Invalid argument: minutes must be 1, 5, 10, 15 or 30');
    this.#everyMs = n * 60000;
    this.#dueAt = this.#env.now() + this.#everyMs;
    return this;
  }

  everyHours(n) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`Invalid argument: hours (${n})`);
    this.#everyMs = n * 3600000;
    this.#dueAt = this.#env.now() + this.#everyMs;
    return this;
  }

  create() {
    this.#env.guard('ClockTriggerBuilder.create', [SCOPE]);
    if (this.#dueAt === null) throw new Error('The trigger has no schedule: call after, at, everyMinutes or everyHours.');
    const triggers = this.#env.state.triggers;
    if (triggers.length >= MAX_TRIGGERS) {
      throw new Error('This script has too many triggers. Triggers must be deleted from the script before more can be added.');
    }
    const record = new TriggerRecord({
      id: String(this.#env.nextId()),
      handler: this.#handler,
      dueAt: this.#dueAt,
      everyMs: this.#everyMs,
    });
    triggers.push(record);
    return new Trigger(record);
  }
}

export function makeScriptApp(env) {
  return Object.freeze({
    EventType,
    TriggerSource,
    AuthMode: Object.freeze({ NONE: 'NONE', LIMITED: 'LIMITED', FULL: 'FULL', CUSTOM_FUNCTION: 'CUSTOM_FUNCTION' }),
    newTrigger(functionName) {
      env.guard('ScriptApp.newTrigger', [SCOPE]);
      if (typeof functionName !== 'string' || !functionName) throw new Error('Invalid argument: functionName');
      return Object.freeze({ timeBased: () => new ClockTriggerBuilder(env, functionName) });
    },
    getProjectTriggers() {
      env.guard('ScriptApp.getProjectTriggers', [SCOPE]);
      return env.state.triggers.map((record) => new Trigger(record));
    },
    deleteTrigger(trigger) {
      env.guard('ScriptApp.deleteTrigger', [SCOPE]);
      const record = trigger instanceof Trigger ? Trigger.record(trigger) : null;
      const index = env.state.triggers.indexOf(record);
      if (index < 0) throw new Error('Invalid argument: trigger (not a trigger of this project)');
      env.state.triggers.splice(index, 1);
    },
    getScriptId() {
      return 'fake-script-id';
    },
  });
}
