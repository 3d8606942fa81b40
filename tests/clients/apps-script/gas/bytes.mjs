// Bytes as Apps Script hands them to scripts: Java byte[] arrive as arrays of signed numbers
// (-128…127); strings are encoded with a named charset.

/** Apps Script's Byte[]: a plain array of signed numbers. */
export function toSigned(bytes) {
  return Array.from(bytes, (b) => (b > 127 ? b - 256 : b));
}

/** A string in `charset` ("UTF-8" by default, or "US-ASCII"), a Byte[] or a Uint8Array → Uint8Array. */
export function toBytes(data, charset = 'UTF-8') {
  if (typeof data === 'string') return encode(data, charset);
  if (data instanceof Uint8Array) return new Uint8Array(data);
  if (Array.isArray(data)) {
    for (const b of data) {
      if (!Number.isInteger(b) || b < -128 || b > 255) {
        throw new Error(`Invalid argument: a byte array holds integers from -128 to 127, not ${b}`);
      }
    }
    return Uint8Array.from(data, (b) => b & 0xff);
  }
  throw new Error(`Invalid argument: expected a string or a byte array, got ${Object.prototype.toString.call(data)}`);
}

export function encode(text, charset = 'UTF-8') {
  const name = charsetName(charset);
  if (name === 'US-ASCII') return Uint8Array.from(text, (c) => (c.charCodeAt(0) < 128 ? c.charCodeAt(0) : 63));
  return new TextEncoder().encode(text);
}

export function decode(bytes, charset = 'UTF-8') {
  const name = charsetName(charset);
  if (name === 'US-ASCII') return String.fromCharCode(...Array.from(bytes, (b) => (b < 128 ? b : 65533)));
  return new TextDecoder('utf-8').decode(bytes);
}

function charsetName(charset) {
  const name = String(charset).toUpperCase().replace('_', '-');
  if (name === 'UTF-8' || name === 'US-ASCII') return name;
  throw new Error(`Invalid argument: charset ${charset} (the fake knows UTF-8 and US-ASCII)`);
}
