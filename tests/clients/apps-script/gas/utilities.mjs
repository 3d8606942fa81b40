// Utilities: blobs, digests, base64, UUIDs and sleep (at most 5 minutes, as in Apps Script).

import { createHash, randomUUID } from 'node:crypto';

import { Blob } from './blob.mjs';
import { toBytes, toSigned } from './bytes.mjs';

const DIGESTS = { MD5: 'md5', SHA_1: 'sha1', SHA_256: 'sha256', SHA_384: 'sha384', SHA_512: 'sha512' };

export function makeUtilities(env) {
  const DigestAlgorithm = Object.freeze({ MD2: 'MD2', MD5: 'MD5', SHA_1: 'SHA_1', SHA_256: 'SHA_256', SHA_384: 'SHA_384', SHA_512: 'SHA_512' });
  const Charset = Object.freeze({ US_ASCII: 'US-ASCII', UTF_8: 'UTF-8' });
  const base64 = (data, charset) => Buffer.from(toBytes(data, charset)).toString('base64');
  return Object.freeze({
    DigestAlgorithm,
    Charset,
    sleep(milliseconds) {
      env.guard('Utilities.sleep');
      if (!Number.isFinite(milliseconds) || milliseconds < 0 || milliseconds > 300000) {
        throw new Error(`Invalid argument: milliseconds (${milliseconds}); Utilities.sleep takes 0 to 300000`);
      }
      env.sleep(milliseconds);
    },
    newBlob(data, contentType = null, name = null) {
      return new Blob(data instanceof Blob ? Blob.raw(data) : toBytes(data), contentType, name);
    },
    computeDigest(algorithm, value, charset = Charset.UTF_8) {
      const name = DIGESTS[algorithm];
      if (!name) throw new Error(`Invalid argument: algorithm ${algorithm} (the fake computes ${Object.keys(DIGESTS).join(', ')})`);
      return toSigned(createHash(name).update(toBytes(value, charset)).digest());
    },
    base64Encode(data, charset) {
      return base64(data, charset);
    },
    base64EncodeWebSafe(data, charset) {
      return base64(data, charset).replace(/\+/g, '-').replace(/\//g, '_');
    },
    base64Decode(encoded) {
      return toSigned(Buffer.from(encoded, 'base64'));
    },
    base64DecodeWebSafe(encoded) {
      return toSigned(Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
    },
    getUuid() {
      return randomUUID();
    },
  });
}
