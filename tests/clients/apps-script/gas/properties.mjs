// PropertiesService: string key-value stores that outlive a run — one per script, per user and
// per document. Values are stored as strings; one value holds at most 9 kB.

const MAX_VALUE_BYTES = 9 * 1024;

export class PropertyStore {
  constructor() {
    this.map = new Map();
  }

  /** For tests: the stored pairs as a plain object. */
  snapshot() {
    return Object.fromEntries(this.map);
  }
}

class Properties {
  #store;
  #env;

  constructor(store, env) {
    this.#store = store;
    this.#env = env;
  }

  getProperty(key) {
    this.#env.guard('Properties.getProperty');
    const value = this.#store.map.get(String(key));
    return value === undefined ? null : value;
  }

  setProperty(key, value) {
    this.#env.guard('Properties.setProperty');
    const text = String(value);
    if (Buffer.byteLength(String(key) + text) > MAX_VALUE_BYTES) throw new Error('Argument too large: value');
    this.#store.map.set(String(key), text);
    return this;
  }

  deleteProperty(key) {
    this.#env.guard('Properties.deleteProperty');
    this.#store.map.delete(String(key));
    return this;
  }

  getProperties() {
    this.#env.guard('Properties.getProperties');
    return this.#store.snapshot();
  }

  setProperties(properties, deleteAllOthers = false) {
    this.#env.guard('Properties.setProperties');
    if (deleteAllOthers) this.#store.map.clear();
    for (const [key, value] of Object.entries(properties)) this.setProperty(key, value);
    return this;
  }

  deleteAllProperties() {
    this.#env.guard('Properties.deleteAllProperties');
    this.#store.map.clear();
    return this;
  }

  getKeys() {
    this.#env.guard('Properties.getKeys');
    return [...this.#store.map.keys()];
  }
}

export function makePropertiesService(env) {
  return Object.freeze({
    getScriptProperties: () => new Properties(env.state.properties.script, env),
    getUserProperties: () => new Properties(env.state.properties.user, env),
    getDocumentProperties: () => new Properties(env.state.properties.document, env),
  });
}
