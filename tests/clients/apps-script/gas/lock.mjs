// LockService: one lock per document, per script and per user, held by at most one run. A run's
// locks are released when it ends. Another run holding a lock is `slot.holder = 'another run'`.

export class LockSlot {
  constructor() {
    this.holder = null;
  }
}

class Lock {
  #slot;
  #env;

  constructor(slot, env) {
    this.#slot = slot;
    this.#env = env;
  }

  tryLock(timeoutInMillis) {
    this.#env.guard('Lock.tryLock');
    const me = this.#env.execution();
    if (this.#slot.holder === null || this.#slot.holder === me) {
      this.#slot.holder = me;
      return true;
    }
    // Nobody else runs while this run waits: the lock stays taken for the whole timeout.
    this.#env.sleep(timeoutInMillis);
    return false;
  }

  waitLock(timeoutInMillis) {
    if (!this.tryLock(timeoutInMillis)) {
      throw new Error('Lock timeout: another process was holding the lock for too long.');
    }
  }

  releaseLock() {
    this.#env.guard('Lock.releaseLock');
    if (this.#slot.holder === this.#env.execution()) this.#slot.holder = null;
  }

  hasLock() {
    return this.#slot.holder === this.#env.execution();
  }
}

export function makeLockService(env) {
  const locks = env.state.locks;
  return Object.freeze({
    // A bound script has a document; a standalone one gets null here.
    getDocumentLock: () => (env.state.spreadsheet ? new Lock(locks.document, env) : null),
    getScriptLock: () => new Lock(locks.script, env),
    getUserLock: () => new Lock(locks.user, env),
  });
}

/** Releases whatever `execution` still holds (Apps Script does so when a run ends). */
export function releaseAll(locks, execution) {
  for (const slot of Object.values(locks)) {
    if (slot.holder === execution) slot.holder = null;
  }
}
