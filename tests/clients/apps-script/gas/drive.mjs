// DriveApp: files by id, read as blobs.

import { Blob } from './blob.mjs';
import { toBytes } from './bytes.mjs';

const SCOPES = ['https://www.googleapis.com/auth/drive.readonly', 'https://www.googleapis.com/auth/drive'];

export class DriveModel {
  constructor() {
    this.files = new Map();
  }

  addFile({ id, name, mimeType, content }) {
    this.files.set(id, { id, name, mimeType, bytes: toBytes(content) });
  }
}

class File {
  #file;

  constructor(file) {
    this.#file = file;
  }

  getId() {
    return this.#file.id;
  }

  getName() {
    return this.#file.name;
  }

  getMimeType() {
    return this.#file.mimeType;
  }

  getSize() {
    return this.#file.bytes.length;
  }

  getBlob() {
    return new Blob(this.#file.bytes, this.#file.mimeType, this.#file.name);
  }
}

export function makeDriveApp(env) {
  return Object.freeze({
    getFileById(id) {
      env.guard('DriveApp.getFileById', SCOPES);
      const file = env.state.drive.files.get(id);
      if (!file) throw new Error('No item with the given ID could be found, or you do not have permission to access it.');
      return new File(file);
    },
  });
}
