// The API client: the key, kept for this tab only (sessionStorage) and sent in the X-API-Key
// header, and answers turned into their `data` or an ApiError of a kind the page can act on.

const STORAGE_KEY = "wapi.apiKey";

export const key = {
  get: () => sessionStorage.getItem(STORAGE_KEY) ?? "",
  set: (value) => sessionStorage.setItem(STORAGE_KEY, value),
  clear: () => sessionStorage.removeItem(STORAGE_KEY),
};

/**
 * Why a call failed. `kind` is one of
 * - `unreachable`: no answer, or not the API's envelope;
 * - `unauthorized`: the key is missing, invalid or revoked (401);
 * - `rate_limited`: the key's budget is spent; `retryAfter` seconds to wait (429 RATE_LIMITED);
 * - `failed`: any other refusal, with the API's `code`, sentence and `details`.
 */
export class ApiError extends Error {
  constructor(kind, message, { status = 0, code = "", details = [], retryAfter = 0 } = {}) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

/** Calls the API with the tab's key; resolves to `data`, rejects with an ApiError. */
export async function call(method, path, { json, form, apiKey = key.get() } = {}) {
  const headers = { "X-API-Key": apiKey };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, cache: "no-store", credentials: "omit" });
  } catch {
    throw new ApiError("unreachable", "The server cannot be reached.");
  }
  let envelope;
  try {
    envelope = await response.json();
  } catch {
    throw new ApiError("unreachable", `The server answered HTTP ${response.status} without the API's JSON.`, {
      status: response.status,
    });
  }
  if (envelope.success) {
    return envelope.data;
  }
  const retryAfter = Number(response.headers.get("Retry-After")) || envelope.data?.retryAfter || 0;
  const kind =
    response.status === 401 ? "unauthorized" : envelope.code === "RATE_LIMITED" ? "rate_limited" : "failed";
  throw new ApiError(kind, envelope.error || `HTTP ${response.status}`, {
    status: response.status,
    code: envelope.code ?? "",
    details: envelope.data?.details ?? [],
    retryAfter,
  });
}

/** A file the page needs that is not behind a key (the OpenAPI document, the examples). */
export async function publicText(path) {
  let response;
  try {
    response = await fetch(path, { cache: "no-cache", credentials: "omit" });
  } catch {
    throw new ApiError("unreachable", "The server cannot be reached.");
  }
  if (!response.ok) {
    throw new ApiError("failed", `${path} answered HTTP ${response.status}.`, { status: response.status });
  }
  return response.text();
}
