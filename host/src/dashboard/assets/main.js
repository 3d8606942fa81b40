// The dashboard's entry point: sign-in and sign-out, the refresh loop (every 4 s, GET requests
// only, so it draws on the key's read budget and never its send budget; paused while the tab is
// hidden, and for as long as a 429 says), the banner for page-wide trouble, and the parts only an
// admin key sees.

import { call, key } from "./api.js";
import * as cards from "./cards.js";
import * as connection from "./connection.js";
import * as docs from "./docs.js";
import { $, $$, errorView, fill, h } from "./dom.js";
import * as keys from "./keys.js";
import * as plugins from "./plugins.js";
import * as queue from "./queue.js";
import * as send from "./send.js";
import * as signin from "./signin.js";

const REFRESH_MS = 4000;
/** Keys and plugins change rarely: every 8th refresh (about 30 s); keys also after each change made here. */
const SLOW_EVERY = 8;

let running = false;
let timer = 0;
let busy = false;
let again = false;
let ticks = 0;

const context = { refresh: refreshSoon, report };

function schedule(ms) {
  clearTimeout(timer);
  if (running && !document.hidden) timer = setTimeout(tick, ms);
}

async function tick() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  let next = REFRESH_MS;
  try {
    next = await refresh();
  } finally {
    busy = false;
  }
  if (again && next === REFRESH_MS) next = 0;
  again = false;
  if (next !== null) schedule(next);
}

/** Refreshes now (after something changed here), without overlapping a refresh in flight. */
function refreshSoon() {
  if (busy) again = true;
  else schedule(0);
}

/** One refresh; answers how long to wait before the next (null: stop). */
async function refresh() {
  try {
    const status = await call("GET", "/api/status");
    apply(status);
    const work = [queue.refresh()];
    if (connection.wantsQr(status)) work.push(connection.refreshQr());
    if (status.keyRole === "admin" && ticks % SLOW_EVERY === 0) work.push(keys.refresh(), plugins.refresh());
    ticks += 1;
    await Promise.all(work);
    docs.load().catch(docsTrouble);
    banner("");
    return REFRESH_MS;
  } catch (e) {
    return trouble(e);
  }
}

function apply(status) {
  const admin = status.keyRole === "admin";
  for (const el of $$("[data-admin]")) el.hidden = !admin;
  cards.render(status);
  connection.render(status);
  send.render(status);
  docs.render(status);
}

/** What a failed refresh means for the whole page. */
function trouble(e) {
  switch (e.kind) {
    case "unauthorized":
      signOut("This API key is no longer accepted (invalid or revoked). Sign in with another key.");
      return null;
    case "rate_limited": {
      const at = new Date(Date.now() + e.retryAfter * 1000).toLocaleTimeString();
      banner(`Rate limited: this key has used its read budget. The page refreshes again in ${e.retryAfter} s (at ${at}).`);
      return Math.max(1, e.retryAfter) * 1000;
    }
    case "unreachable":
      cards.unreachable();
      banner("Server unreachable — retrying every 4 s. Check that wapi is running.");
      return REFRESH_MS;
    default:
      banner(e.code ? `${e.code}: ${e.message}` : e.message);
      return REFRESH_MS;
  }
}

/** Shows a failed action's error in `element` (a revoked key signs the tab out instead). */
function report(e, element) {
  if (e.kind === "unauthorized") {
    signOut("This API key is no longer accepted (invalid or revoked). Sign in with another key.");
    return;
  }
  element.hidden = false;
  element.classList.remove("ok");
  element.classList.add("error");
  const wait = e.retryAfter ? h("p", {}, `Retry in ${waitText(e.retryAfter)}.`) : null;
  const offline = e.kind === "unreachable" ? h("p", {}, "Check that wapi is running, then try again.") : null;
  fill(element, errorView(e), wait, offline);
}

function waitText(seconds) {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `about ${Math.round(seconds / 3600)} h`;
}

function banner(text) {
  const el = $("#banner");
  el.hidden = !text;
  el.textContent = text;
}

function showApp() {
  signin.hide();
  $("#app").hidden = false;
  $("#nav").hidden = false;
  $("#who").hidden = false;
  const [, id] = key.get().split("_");
  $("#who-key").textContent = id ? `wapi_${id}_••••••` : "••••••";
  running = true;
  ticks = 0;
  schedule(0);
}

function docsTrouble(e) {
  fill($("#endpoints"), h("div", { class: "result error" }, errorView(e)));
}

function signOut(message) {
  key.clear();
  running = false;
  clearTimeout(timer);
  keys.forgetSecret();
  // What an admin key listed is not left in the page for the next key.
  for (const rows of [$("#keys-rows"), $("#plugins-rows")]) fill(rows, h("tr", {}, h("td", { colspan: 7, class: "empty" }, "Loading…")));
  banner("");
  $("#app").hidden = true;
  $("#nav").hidden = true;
  $("#who").hidden = true;
  signin.show(message);
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) clearTimeout(timer);
  else schedule(0);
});

signin.init((status) => {
  showApp();
  apply(status);
});
$("#sign-out").addEventListener("click", () => signOut(""));
connection.init(context);
send.init(context);
queue.init(context);
keys.init(context);

if (key.get()) showApp();
else signin.show();
