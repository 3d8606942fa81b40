// UrlFetchApp: requests built from Apps Script's parameters (method, headers, contentType,
// payload as a string, bytes, a Blob or a form object — multipart when it holds a Blob),
// redirects followed unless told not to, and HTTP errors thrown unless muteHttpExceptions.
// The bytes travel through `env.state.transport`, which answers {status, headers, body}.

import { randomBytes } from 'node:crypto';

import { Blob } from './blob.mjs';
import { decode, encode, toBytes, toSigned } from './bytes.mjs';

const SCOPE = 'https://www.googleapis.com/auth/script.external_request';
const METHODS = ['get', 'delete', 'patch', 'post', 'put'];
const USER_AGENT = 'Mozilla/5.0 (compatible; Google-Apps-Script; beanserver; +https://script.google.com; id: fake-script-id)';
const MAX_REDIRECTS = 10;

export class HTTPResponse {
  #status;
  #headers;
  #body;

  constructor({ status, headers, body }) {
    this.#status = status;
    this.#headers = headers;
    this.#body = body;
  }

  getResponseCode() {
    return this.#status;
  }

  getContentText(charset = 'UTF-8') {
    return decode(this.#body, charset);
  }

  getContent() {
    return toSigned(this.#body);
  }

  getBlob() {
    const type = this.#headers.find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? null;
    return new Blob(this.#body, type && type.split(';')[0].trim());
  }

  getAs(contentType) {
    return this.getBlob().getAs(contentType);
  }

  /** One value per header, under the name as the server spelled it (clients must not rely on a case). */
  getHeaders() {
    const out = {};
    for (const [name, value] of this.#headers) out[name] = value;
    return out;
  }

  getAllHeaders() {
    const out = {};
    for (const [name, value] of this.#headers) out[name] = name in out ? [].concat(out[name], value) : value;
    return out;
  }
}

/** The request Apps Script would send for `url` and `params`. */
export function buildRequest(url, params = {}) {
  if (typeof url !== 'string' || !/^https?:\/\/[^\s/]+/i.test(url)) throw new Error(`Invalid argument: ${url}`);
  const method = String(params.method ?? 'get').toLowerCase();
  if (!METHODS.includes(method)) throw new Error(`Invalid argument: method ${params.method}`);
  const headers = [['User-Agent', USER_AGENT]];
  for (const [name, value] of Object.entries(params.headers ?? {})) {
    if (/^(host|content-length)$/i.test(name)) throw new Error(`Attribute provided with invalid value: Header:${name}`);
    headers.push([name, String(value)]);
  }
  let body = null;
  const payload = params.payload;
  if (payload !== undefined && payload !== null) {
    let contentType = params.contentType ?? 'application/x-www-form-urlencoded';
    if (typeof payload === 'string') {
      body = encode(payload);
    } else if (payload instanceof Blob) {
      body = Blob.raw(payload);
      contentType = params.contentType ?? payload.getContentType() ?? contentType;
    } else if (Array.isArray(payload)) {
      body = toBytes(payload);
    } else if (typeof payload === 'object') {
      const fields = Object.entries(payload);
      if (fields.some(([, value]) => value instanceof Blob)) {
        const boundary = `----FakeAppsScript${randomBytes(12).toString('hex')}`;
        body = multipart(fields, boundary);
        contentType = `multipart/form-data; boundary=${boundary}`;
      } else {
        body = encode(fields.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&'));
      }
    } else {
      body = encode(String(payload));
    }
    headers.push(['Content-Type', contentType]);
  }
  return {
    url,
    method: method.toUpperCase(),
    headers,
    body,
    followRedirects: params.followRedirects !== false,
    muteHttpExceptions: params.muteHttpExceptions === true,
  };
}

function multipart(fields, boundary) {
  const parts = [];
  for (const [name, value] of fields) {
    if (value instanceof Blob) {
      const fileName = (value.getName() ?? name).replace(/"/g, '%22');
      parts.push(
        encode(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${fileName}"\r\n` +
            `Content-Type: ${value.getContentType() ?? 'application/octet-stream'}\r\n\r\n`
        ),
        Blob.raw(value),
        encode('\r\n')
      );
    } else {
      parts.push(encode(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${String(value)}\r\n`));
    }
  }
  parts.push(encode(`--${boundary}--\r\n`));
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

export function makeUrlFetchApp(env) {
  function fetch(url, params = {}) {
    env.guard('UrlFetchApp.fetch', [SCOPE]);
    let request = buildRequest(url, params);
    let reply;
    for (let hops = 0; ; hops += 1) {
      env.state.requests.push(request);
      reply = env.state.transport(request);
      const location = reply.headers.find(([name]) => name.toLowerCase() === 'location')?.[1];
      if (!request.followRedirects || ![301, 302, 303, 307, 308].includes(reply.status) || !location) break;
      if (hops === MAX_REDIRECTS) throw new Error(`Too many redirects: ${url}`);
      const keep = reply.status === 307 || reply.status === 308;
      request = {
        ...request,
        url: new URL(location, request.url).href,
        method: keep ? request.method : 'GET',
        body: keep ? request.body : null,
        headers: keep ? request.headers : request.headers.filter(([n]) => n.toLowerCase() !== 'content-type'),
      };
    }
    const response = new HTTPResponse(reply);
    if (!request.muteHttpExceptions && reply.status >= 400) {
      const text = response.getContentText();
      throw new Error(
        `Request failed for ${url} returned code ${reply.status}. Truncated server response: ${text.slice(0, 100)}` +
          `${text.length > 100 ? '...' : ''} (use muteHttpExceptions option to examine full response)`
      );
    }
    return response;
  }

  return Object.freeze({
    fetch,
    fetchAll(requests) {
      return requests.map((r) => (typeof r === 'string' ? fetch(r) : fetch(r.url, r)));
    },
    getRequest(url, params = {}) {
      const request = buildRequest(url, params);
      return {
        url: request.url,
        method: request.method.toLowerCase(),
        headers: Object.fromEntries(request.headers.filter(([n]) => n !== 'User-Agent' && n !== 'Content-Type')),
        contentType: request.headers.find(([n]) => n === 'Content-Type')?.[1],
        payload: request.body === null ? '' : decode(request.body),
        followRedirects: request.followRedirects,
        muteHttpExceptions: request.muteHttpExceptions,
      };
    },
  });
}
