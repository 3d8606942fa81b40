// Apps Script's Blob: bytes with a content type and a name.

import { decode, toBytes, toSigned } from './bytes.mjs';

export class Blob {
  #bytes;
  #contentType;
  #name;

  constructor(bytes, contentType = null, name = null) {
    this.#bytes = toBytes(bytes);
    this.#contentType = contentType;
    this.#name = name;
  }

  /** For the fakes: the bytes without a copy into a signed array. */
  static raw(blob) {
    return blob.#bytes;
  }

  static isBlob(value) {
    return value instanceof Blob;
  }

  getBytes() {
    return toSigned(this.#bytes);
  }

  setBytes(data) {
    this.#bytes = toBytes(data);
    return this;
  }

  getDataAsString(charset = 'UTF-8') {
    return decode(this.#bytes, charset);
  }

  setDataFromString(text, charset = 'UTF-8') {
    this.#bytes = toBytes(String(text), charset);
    return this;
  }

  getContentType() {
    return this.#contentType;
  }

  setContentType(contentType) {
    this.#contentType = contentType;
    return this;
  }

  getName() {
    return this.#name;
  }

  setName(name) {
    this.#name = name;
    return this;
  }

  copyBlob() {
    return new Blob(this.#bytes, this.#contentType, this.#name);
  }

  isGoogleType() {
    return false;
  }

  getBlob() {
    return this;
  }

  getAs(contentType) {
    if (contentType !== this.#contentType) {
      throw new Error(`Converting from ${this.#contentType} to ${contentType} is not supported.`);
    }
    return this.copyBlob();
  }
}
