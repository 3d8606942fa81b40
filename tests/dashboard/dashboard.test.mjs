// The dashboard against a linked gateway (the simulator backend): sign-in, the cards, test
// messages, the queue going queued → sent within one refresh, cancel, keys, the user-key view,
// text shown as text, polling on the read budget only (and not while hidden), the trouble states,
// the docs, and a 375 px phone. The tests run in order and share one browser tab.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  api,
  env,
  launch,
  recordRequests,
  rowStatus,
  sendFromPage,
  shot,
  signIn,
  signOut,
  until,
  untilRowStatus,
  untilText,
} from "./lib.mjs";

const base = env("WAPI_DASHBOARD_URL");
const adminKey = env("WAPI_DASHBOARD_ADMIN_KEY");
const PUBLIC_URL = env("WAPI_DASHBOARD_PUBLIC_URL");
const TO = "923001234567";
const NOT_ON_WHATSAPP = env("WAPI_DASHBOARD_NOT_ON_WHATSAPP");
/** One refresh interval of the page, and slack for a loaded test machine. */
const REFRESH = 4000;
const SLACK = 2000;

let browser;
let page;
let requests;
let userKey;

before(async () => {
  browser = await launch();
  page = await browser.page(base);
  requests = recordRequests(page);
  // Anything injected into the page would break the CSP: count the violations.
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective));
  });
});

after(async () => {
  await browser?.close();
});

test("sign-in refuses a wrong key, keeps the right one for this tab only, and never puts it in a URL", async () => {
  await page.goto(`${base}/`);
  await page.locator("#signin-key").waitFor();
  assert.equal(await page.isVisible("#app"), false);
  assert.equal(await page.getAttribute("#signin-key", "type"), "password");
  await shot(page, "01-sign-in");

  await page.fill("#signin-key", `wapi_Wrongkey_${"x".repeat(32)}`);
  await page.press("#signin-key", "Enter");
  await untilText(page, "#signin-error", "invalid or revoked");
  await shot(page, "02-sign-in-refused");

  await signIn(page, base, adminKey);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("wapi.apiKey")), adminKey);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.equal(await page.evaluate(() => document.cookie), "");

  // A reload keeps the tab signed in.
  await page.reload();
  await page.locator("#app").waitFor();
  assert.equal(await page.isVisible("#signin"), false);
  assert.ok(!page.url().includes(adminKey.split("_")[2]), page.url());
});

test("the cards and the connection panel show the gateway's status", async () => {
  const status = await api(base, adminKey, "GET", "/api/status");
  await untilText(page, "#card-state", "Connected");
  assert.equal(await page.textContent("#card-role"), "admin");
  assert.equal(await page.textContent("#card-gap"), status.antiBan.gap);
  assert.equal(await page.textContent("#card-queue"), String(status.pendingMessages));
  await untilText(page, "#connection-body", `+${status.connection.number}`);
  assert.ok(await page.isVisible("#connection-body button.danger"), "an admin sees the logout button");
  await shot(page, "03-admin-desktop", { full: true });
});

test("a test message shows the status it got, or the error's code and sentence", async () => {
  const sent = await sendFromPage(page, TO, "Hello from the dashboard test");
  assert.match(sent.result, /\b(sent|queued)\b/);
  await untilRowStatus(page, sent.id, "sent", REFRESH + SLACK);

  await page.fill("#send-to", NOT_ON_WHATSAPP);
  await page.fill("#send-text", "Is anyone there?");
  await page.click("#send-button");
  await untilText(page, "#send-result", "RECIPIENT_NOT_FOUND");
  assert.match(await page.textContent("#send-result"), /is not on WhatsApp/);
  await shot(page, "04-send-refused", { of: "#send" });

  await page.fill("#send-to", "");
  await page.fill("#send-text", "no recipient");
  await page.click("#send-button");
  await untilText(page, "#send-result", "VALIDATION_ERROR");
  assert.match(await page.textContent("#send-result .details"), /\bto\b/);

  await page.fill("#send-to", TO);
  await page.fill("#send-text", "the notes, attached");
  await page.setInputFiles("#send-file", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hello") });
  await page.click("#send-button");
  await untilText(page, "#send-result", "Message #");
  const id = Number(/Message #(\d+)/.exec(await page.textContent("#send-result"))[1]);
  await until(page, (i) => document.querySelector(`#queue-rows tr[data-id="${i}"]`), id);
  const row = page.locator(`#queue-rows tr[data-id="${id}"]`);
  assert.equal((await row.locator("td").nth(1).textContent()).trim(), "document");
  assert.match(await row.locator("td").nth(3).textContent(), /notes\.txt/);
});

test("a message queued while WhatsApp is away goes queued → sent within one refresh; another is cancelled", async () => {
  await api(base, adminKey, "POST", "/api/simulator", { action: "disconnect" });
  await untilText(page, "#card-state", "Reconnecting", REFRESH + SLACK);
  await untilText(page, "#send-state", "not connected");

  const waiting = await sendFromPage(page, TO, "waits for the link");
  assert.match(waiting.result, /queued/);
  await untilRowStatus(page, waiting.id, "queued");
  const doomed = await sendFromPage(page, TO, "to be cancelled");
  await untilRowStatus(page, doomed.id, "queued");
  const first = page.locator(`#queue-rows tr[data-id="${waiting.id}"]`);
  assert.match(await first.textContent(), /sends next/);
  assert.equal(await page.textContent("#queue-rows tr:first-child td:first-child"), String(waiting.id));
  await shot(page, "05-queued-while-disconnected", { of: "#queue" });

  await page.click(`[data-cancel="${doomed.id}"]`);
  await untilRowStatus(page, doomed.id, "cancelled");

  await page.selectOption("#queue-filter", "cancelled");
  await until(page, () => [...document.querySelectorAll("#queue-rows tr")].every((r) => r.dataset.status === "cancelled"));
  assert.equal(await rowStatus(page, waiting.id), null, "the filter hides what is not cancelled");
  await page.selectOption("#queue-filter", "");
  await untilRowStatus(page, waiting.id, "queued");

  await api(base, adminKey, "POST", "/api/simulator", { action: "link" });
  const linkedAt = Date.now();
  await untilRowStatus(page, waiting.id, "sent", REFRESH + SLACK);
  assert.ok(Date.now() - linkedAt <= REFRESH + SLACK);
  await untilText(page, "#card-state", "Connected");
  assert.equal(await rowStatus(page, doomed.id), "cancelled");
  const cancelled = await api(base, adminKey, "GET", `/api/messages/${doomed.id}`);
  assert.equal(cancelled.status, "cancelled");
  await shot(page, "06-sent-after-link", { of: "#queue" });
});

test("user text is shown as text: markup in a message runs nothing and creates no element", async () => {
  const xss = "<img src=x onerror=alert(1)>";
  const { id } = await sendFromPage(page, TO, xss);
  await until(page, (i) => document.querySelector(`#queue-rows tr[data-id="${i}"]`), id);
  const cell = page.locator(`#queue-rows tr[data-id="${id}"] td`).nth(3);
  assert.equal((await cell.textContent()).trim(), xss);
  assert.equal(await page.locator('img[src="x"]').count(), 0);
  assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
  assert.deepEqual(page.errors, []);
});

test("an admin creates a key: its secret is shown once, copied, and the key is listed", async () => {
  const name = "<b>ops</b> & team";
  await page.fill("#key-name", name);
  await page.selectOption("#key-role", "user");
  await page.click("#key-form button[type=submit]");
  await page.locator("#key-created").waitFor();
  const secret = (await page.textContent("#key-secret")).trim();
  assert.match(secret, /^wapi_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/);
  await page.click("#key-copy");
  await untilText(page, "#key-copy", "Copied");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);

  const id = secret.split("_")[1];
  const row = page.locator(`#keys-rows tr[data-key="${id}"]`);
  await row.waitFor();
  assert.equal((await row.locator("td").nth(0).textContent()).trim(), name);
  assert.equal(await row.locator("b").count(), 0);
  assert.equal((await row.locator("td").nth(1).textContent()).trim(), `wapi_${id}_`);
  assert.equal((await row.locator("td").nth(2).textContent()).trim(), "user");
  assert.equal(await row.getAttribute("data-status"), "active");
  await shot(page, "07-key-created", { of: "#keys" });

  await page.click("#key-done");
  assert.equal(await page.isVisible("#key-created"), false);
  assert.equal(await page.textContent("#key-secret"), "");
  userKey = secret;
});

test("a user key sees no admin parts and calls no admin endpoint", async () => {
  const userPage = await browser.page(base);
  const calls = recordRequests(userPage);
  await signIn(userPage, base, userKey);
  assert.equal(await userPage.textContent("#card-role"), "user");
  for (const hidden of ["#keys", "#plugins", 'nav a[href="#keys"]', 'nav a[href="#plugins"]', "#connection-body button"]) {
    assert.equal(await userPage.isVisible(hidden), false, `${hidden} is hidden from a user key`);
  }
  assert.ok(await userPage.isVisible("#send"));
  assert.ok(await userPage.isVisible("#queue"));
  // Two refreshes later, still nothing but what a user may call.
  await waitForRequests(calls, "/api/status", 3, 2 * REFRESH + SLACK, 0);
  const adminOnly = calls.filter((c) => /\/api\/(keys|plugins|session)/.test(c.url));
  assert.deepEqual(adminOnly.map((c) => c.url), []);
  await shot(userPage, "08-user-view", { full: true });

  // The admin revokes that key: the user's tab is signed out at its next refresh.
  const id = userKey.split("_")[1];
  const row = page.locator(`#keys-rows tr[data-key="${id}"]`);
  await row.locator("button").click();
  await untilText(page, `#keys-rows tr[data-key="${id}"] button`, "Click again");
  await row.locator("button").click();
  await until(page, (i) => document.querySelector(`#keys-rows tr[data-key="${i}"]`)?.dataset.status === "revoked", id);
  await shot(page, "09-key-revoked", { of: "#keys" });

  await untilText(userPage, "#signin-error", "no longer accepted", REFRESH + SLACK);
  assert.equal(await userPage.evaluate(() => sessionStorage.length), 0);
  await userPage.fill("#signin-key", userKey);
  await userPage.press("#signin-key", "Enter");
  await untilText(userPage, "#signin-error", "invalid or revoked");
  await shot(userPage, "10-revoked-key-refused");
  await userPage.close();
});

test("the plugins show their version, hooks, state or load error, calls and failures", async () => {
  const template = page.locator('#plugins-rows tr[data-plugin="template"]');
  const broken = page.locator('#plugins-rows tr[data-plugin="broken"]');
  await template.waitFor();
  const cells = async (row) => (await row.locator("td").allTextContents()).map((t) => t.trim());
  const [name, version, hooks, state, calls, failures] = await cells(template);
  assert.match(name, /^template/);
  assert.match(version, /\d+\.\d+/);
  assert.match(hooks, /template/);
  assert.equal(state, "active");
  assert.match(calls, /^\d+$/);
  assert.match(failures, /^\d+$/);
  assert.equal(await broken.locator(".badge").textContent(), "failed");
  assert.ok((await broken.locator(".reason").textContent()).length > 10, "a failed plugin shows its load error");
  await shot(page, "15-plugins", { of: "#plugins" });
});

test("polling uses GET requests on the read budget only, and stops while the tab is hidden", async () => {
  const from = Date.now();
  await waitForRequests(requests, "/api/status", 2, 2 * REFRESH + SLACK, from);
  const polled = requests.filter((r) => r.at >= from && r.url.includes("/api/") && r.policy !== undefined);
  const paths = new Set(polled.map((r) => new URL(r.url).pathname));
  assert.ok(paths.has("/api/status") && paths.has("/api/messages"), [...paths].join(", "));
  for (const r of polled) {
    assert.equal(r.method, "GET", r.url);
    assert.match(r.policy, /^"read"/, `${r.url} is charged to ${r.policy}`);
  }

  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  const hiddenAt = Date.now();
  // Longer than a refresh interval: a hidden tab asks nothing.
  await page.waitForTimeout(REFRESH + 1500);
  const whileHidden = requests.filter((r) => r.at > hiddenAt + 300 && r.url.includes("/api/"));
  assert.deepEqual(whileHidden.map((r) => r.url), []);

  await page.evaluate(() => {
    delete document.hidden;
    delete document.visibilityState;
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await waitForRequests(requests, "/api/status", 1, 1500, Date.now() - 50);
});

test("trouble is said plainly: server unreachable, rate limited with the wait", async () => {
  await page.route("**/api/status", (route) => route.abort("connectionrefused"));
  await untilText(page, "#banner", "Server unreachable", REFRESH + SLACK);
  assert.match(await page.textContent("#card-state"), /server unreachable/);
  await shot(page, "11-server-unreachable");
  await page.unroute("**/api/status");
  await until(page, () => document.querySelector("#banner").hidden, undefined, REFRESH + SLACK);

  const limited = {
    success: false,
    data: { retryAfter: 3 },
    error: "too many requests for this key; retry in 3 s",
    code: "RATE_LIMITED",
  };
  await page.route("**/api/status", (route) =>
    route.fulfill({ status: 429, headers: { "Retry-After": "3" }, contentType: "application/json", body: JSON.stringify(limited) }),
  );
  await untilText(page, "#banner", "Rate limited", REFRESH + SLACK);
  assert.match(await page.textContent("#banner"), /in 3 s/);
  await shot(page, "12-rate-limited");
  await page.unroute("**/api/status");
  await until(page, () => document.querySelector("#banner").hidden, undefined, 3000 + REFRESH + SLACK);
});

test("the API docs: base URLs, examples with this page's base URL, every endpoint of the OpenAPI document", async () => {
  assert.equal(await page.textContent("#base-domain"), PUBLIC_URL);
  assert.equal(await page.textContent("#base-direct"), base);

  const code = () => page.textContent("#example-code");
  await until(page, () => document.querySelectorAll("#example-tabs [role=tab]").length === 4);
  assert.deepEqual(await page.locator("#example-tabs [role=tab]").allTextContents(), ["curl", "JavaScript", "Python", "PHP"]);
  const curl = await code();
  assert.ok(curl.includes(`${base}/api/messages`), curl);
  assert.ok(curl.includes("YOUR_API_KEY") && !curl.includes("localhost:8080"), curl);
  await page.focus("#example-tabs [aria-selected=true]");
  await page.keyboard.press("ArrowRight");
  assert.match(await code(), /fetch\(/);
  await page.click("#example-tabs >> text=Python");
  assert.match(await code(), /urllib\.request/);
  await page.click("#example-tabs >> text=PHP");
  assert.match(await code(), /curl_init/);
  assert.ok((await code()).includes(`${base}/api/messages`));
  await page.click("#example-copy");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await code());

  const doc = await (await fetch(`${base}/api/openapi.json`)).json();
  const operations = Object.values(doc.paths).flatMap((p) => Object.keys(p).filter((m) => ["get", "post", "put", "patch", "delete"].includes(m)));
  await until(page, (n) => document.querySelectorAll("#endpoints details.endpoint").length === n, operations.length);
  const send = page.locator("#endpoints details.endpoint", { hasText: "/api/messages/batch" });
  await send.locator("summary").click();
  assert.match(await send.textContent(), /Responses/);
  assert.match(await page.textContent("#errors-table"), /DAILY_LIMIT_REACHED/);
});

test("times are in the viewer's zone with how long ago", async () => {
  assert.match(await page.textContent("#queue-zone"), /Asia\/Karachi/);
  const time = page.locator("#queue-rows time").first();
  const iso = await time.getAttribute("datetime");
  const karachi = new Intl.DateTimeFormat("en-US", {
    timeZone: "Asia/Karachi",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).format(new Date(iso));
  const clock = (text) => /\d{1,2}:\d{2}:\d{2}/.exec(text)?.[0];
  const shown = await time.textContent();
  assert.equal(clock(shown), clock(karachi), `${shown} is ${karachi} in Asia/Karachi`);
  assert.match(shown, /(ago|just now)$/);
});

test("the forms work from the keyboard, with labels", async () => {
  for (const label of ["Recipient", "Message", "File (optional)", "Name", "Role", "Status"]) {
    assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, `one field labelled ${label}`);
  }
  await page.focus("#send-to");
  await page.keyboard.press("Control+A");
  await page.keyboard.type(TO);
  await page.keyboard.press("Tab");
  await page.keyboard.type("typed from the keyboard");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "send-button");
  await page.keyboard.press("Enter");
  await until(page, () => /Message #\d+/.test(document.querySelector("#send-result").textContent) && !document.querySelector("#send-button").disabled);
  assert.match(await page.textContent("#send-result"), /\b(sent|queued)\b/);
});

test("on a 375 px phone nothing scrolls sideways", async () => {
  await page.setViewportSize({ width: 375, height: 812 });
  await page.locator("#queue-rows tr").first().waitFor();
  const [scrollWidth, clientWidth] = await page.evaluate(() => [
    document.documentElement.scrollWidth,
    document.documentElement.clientWidth,
  ]);
  assert.ok(scrollWidth <= clientWidth, `page is ${scrollWidth}px wide in a ${clientWidth}px window`);
  await shot(page, "13-phone-375");
  await shot(page, "13-phone-375-queue", { of: "#queue" });
  await shot(page, "14-phone-375-full", { full: true });
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("no URL the page asked for carried the key, and nothing broke", async () => {
  const secrets = [adminKey, adminKey.split("_")[2], userKey, userKey.split("_")[2]];
  for (const r of requests) {
    for (const secret of secrets) assert.ok(!r.url.includes(secret), `${r.method} ${r.url} carries a key`);
  }
  assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
  assert.deepEqual(page.errors, []);
  await signOut(page);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
});

/** Waits until `n` requests whose URL ends with `suffix` were made since `from`. */
async function waitForRequests(list, suffix, n, timeout, from = Date.now()) {
  const deadline = Date.now() + timeout;
  while (list.filter((r) => r.at >= from && new URL(r.url).pathname === suffix).length < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} requests to ${suffix} within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
