// Signing in and out: the key is checked with GET /api/status before it is kept for the tab.

import { call, key } from "./api.js";
import { $ } from "./dom.js";

const form = $("#signin-form");
const input = $("#signin-key");
const error = $("#signin-error");

/** Shows the sign-in form, with `message` (why the tab was signed out) when there is one. */
export function show(message = "") {
  $("#signin").hidden = false;
  error.hidden = !message;
  error.textContent = message;
  input.value = "";
  input.setAttribute("aria-invalid", String(Boolean(message)));
  input.focus();
}

export function hide() {
  $("#signin").hidden = true;
  error.hidden = true;
}

/** Calls `onSignedIn(status)` once a key the server accepts is entered. */
export function init(onSignedIn) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const entered = input.value.trim();
    if (!entered) {
      show("Enter an API key.");
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const status = await call("GET", "/api/status", { apiKey: entered });
      key.set(entered);
      input.value = "";
      onSignedIn(status);
    } catch (e) {
      show(signInError(e));
      input.value = entered;
    } finally {
      button.disabled = false;
    }
  });
}

/** What went wrong, in the words the viewer needs. */
export function signInError(e) {
  switch (e.kind) {
    case "unauthorized":
      return "That key is invalid or revoked.";
    case "rate_limited":
      return `This key is rate limited; try again in ${e.retryAfter} s.`;
    case "unreachable":
      return "The server cannot be reached. Check that wapi is running, then try again.";
    default:
      return e.message;
  }
}
