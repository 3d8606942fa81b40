// What the dashboard tests share: the gateway they were given (by tests/e2e/dashboard.rs, which
// starts the real binary), headless Debian Chromium through playwright-core, direct API calls for
// what a test arranges, waits on the page, and screenshots saved as test artifacts.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

/** A variable the Rust side sets; the tests cannot run without it. */
export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through \`cargo xtask test\` (tests/e2e/dashboard.rs)`);
  return value;
}

const SHOTS = process.env.WAPI_DASHBOARD_SCREENSHOTS ?? path.join(tmpdir(), "wapi-dashboard-screenshots");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/**
 * Debian's Chromium, headless, on a fresh profile folder (removed by `close`). The context lets
 * pages use the clipboard, and runs in a time zone that is not the machine's.
 */
export async function launch({ timezoneId = "Asia/Karachi" } = {}) {
  const profile = mkdtempSync(path.join(tmpdir(), "wapi-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    viewport: { width: 1280, height: 900 },
    timezoneId,
    locale: "en-US",
  });
  return {
    context,
    async page(origin) {
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      page.errors = [];
      page.on("pageerror", (e) => page.errors.push(e.message));
      page.on("dialog", (d) => {
        page.errors.push(`dialog: ${d.message()}`);
        d.dismiss();
      });
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Saves a screenshot as a test artifact: of the element `of`, of the page's whole length with
 * `full`, else of the window scrolled to the top.
 */
export async function shot(page, name, { full = false, of = null } = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  if (of) {
    await page.locator(of).screenshot({ path: file });
    return;
  }
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: file, fullPage: full });
}

/** Calls the API directly, as a test arranging the world does; returns the envelope. */
export async function api(base, key, method, route, json) {
  const response = await fetch(base + route, {
    method,
    headers: { "X-API-Key": key, ...(json ? { "Content-Type": "application/json" } : {}) },
    body: json ? JSON.stringify(json) : undefined,
  });
  const body = await response.json();
  if (!body.success) throw new Error(`${method} ${route}: HTTP ${response.status} ${JSON.stringify(body)}`);
  return body.data;
}

/** Opens the page and signs in with `key`; resolves once the dashboard has its first status. */
export async function signIn(page, base, key) {
  if (!page.url().startsWith(base)) await page.goto(`${base}/`);
  await page.locator("#signin-key").waitFor();
  await page.fill("#signin-key", key);
  await page.press("#signin-key", "Enter");
  await page.locator("#app").waitFor();
  await until(page, () => document.querySelector("#card-role").textContent !== "—");
}

export async function signOut(page) {
  await page.click("#sign-out");
  await page.locator("#signin-key").waitFor();
}

/** Waits until `predicate(arg)`, run in the page, is true. */
export function until(page, predicate, arg, timeout) {
  return page.waitForFunction(predicate, arg, timeout ? { timeout } : {});
}

/** Waits until the element's text contains `text`. */
export function untilText(page, selector, text, timeout) {
  return until(
    page,
    ([s, t]) => document.querySelector(s)?.textContent.includes(t),
    [selector, text],
    timeout,
  );
}

/** The status a message's row shows (`null` while it is not in the table). */
export function rowStatus(page, id) {
  return page.evaluate((i) => document.querySelector(`#queue-rows tr[data-id="${i}"]`)?.dataset.status ?? null, id);
}

export function untilRowStatus(page, id, status, timeout) {
  return until(
    page,
    ([i, s]) => document.querySelector(`#queue-rows tr[data-id="${i}"]`)?.dataset.status === s,
    [id, status],
    timeout,
  );
}

/** Sends a test message through the page's form; returns the id the answer named. */
export async function sendFromPage(page, to, text) {
  await page.fill("#send-to", to);
  await page.fill("#send-text", text);
  await page.click("#send-button");
  await until(page, () => /Message #\d+/.test(document.querySelector("#send-result").textContent));
  const result = await page.textContent("#send-result");
  return { id: Number(/Message #(\d+)/.exec(result)[1]), result };
}

/** Every request the page makes from now on: method, URL, when, and the budget its answer named. */
export function recordRequests(page) {
  const seen = [];
  page.on("request", (r) => seen.push({ method: r.method(), url: r.url(), at: Date.now(), request: r }));
  page.on("response", (r) => {
    const entry = seen.find((s) => s.request === r.request());
    if (entry) entry.policy = r.headers()["ratelimit-policy"] ?? "";
  });
  return seen;
}
