// The dashboard against a gateway that is not linked (`whatsapp.simulator.auto_link = false`):
// the QR code, the "preparing" state before it, a send refused while unlinked, pairing by code,
// logout to a fresh QR, and what a user key sees instead.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { api, env, launch, shot, signIn, until, untilText } from "./lib.mjs";

const base = env("WAPI_DASHBOARD_QR_URL");
const adminKey = env("WAPI_DASHBOARD_ADMIN_KEY");
const REFRESH = 4000;
const SLACK = 2000;

let browser;
let page;

before(async () => {
  browser = await launch();
  page = await browser.page(base);
});

after(async () => {
  await browser?.close();
});

/** The QR image's `blob:` URL once it shows a decoded image. */
function qrShown(previous = "") {
  return until(
    page,
    (before) => {
      const img = document.querySelector("#connection-body img.qr-image");
      return img && !img.hidden && img.complete && img.naturalWidth > 0 && img.src.startsWith("blob:") && img.src !== before;
    },
    previous,
    REFRESH + SLACK,
  );
}

const qrSource = () => page.getAttribute("#connection-body img.qr-image", "src");

test("while the first code is on its way the page says it is preparing it", async () => {
  // Hold the first QR answer back, to see what is shown meanwhile.
  let release;
  let answered;
  const held = new Promise((resolve) => (release = resolve));
  const passed = new Promise((resolve) => (answered = resolve));
  await page.route("**/api/session/qr", async (route) => {
    await held;
    await route.continue();
    answered();
  });
  await signIn(page, base, adminKey);
  await untilText(page, "#card-state", "Waiting for QR");
  await untilText(page, "#connection-body", "Starting WhatsApp session…");
  assert.match(await page.textContent("#connection-body"), /Hold on, preparing your QR code\./);
  await shot(page, "20-preparing-qr");
  release();
  await passed;
  await page.unroute("**/api/session/qr");
});

test("with auto_link = false an admin sees the QR code to scan", async () => {
  await qrShown();
  assert.match(await page.textContent("#connection-body"), /Linked devices/);
  assert.match(await page.textContent("#connection-body figcaption"), /refreshes here as WhatsApp rotates it/);
  assert.equal(await page.getAttribute("#connection-body img.qr-image", "alt"), "WhatsApp linking QR code");
  await shot(page, "21-qr-code");

  await page.setViewportSize({ width: 375, height: 812 });
  const [scrollWidth, clientWidth] = await page.evaluate(() => [
    document.documentElement.scrollWidth,
    document.documentElement.clientWidth,
  ]);
  assert.ok(scrollWidth <= clientWidth, `page is ${scrollWidth}px wide in a ${clientWidth}px window`);
  await shot(page, "21-qr-code-phone", { of: "#connection" });
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("a send while nothing is linked is refused with the code and sentence", async () => {
  await untilText(page, "#send-state", "not linked");
  await page.fill("#send-to", "923001234567");
  await page.fill("#send-text", "anyone?");
  await page.click("#send-button");
  await untilText(page, "#send-result", "WHATSAPP_NOT_CONNECTED");
  assert.match(await page.textContent("#send-result"), /WhatsApp is not connected/);
  await shot(page, "22-send-refused-unlinked", { of: "#send" });
});

test("linking by pairing code shows the code to type on the phone", async () => {
  await page.fill("#pair-phone", "923001234567");
  await page.click("#connection-body .pair button[type=submit]");
  await untilText(page, "#connection-body", "Enter the pairing code on the phone");
  const code = (await page.textContent("#connection-body .pair-code")).trim();
  assert.match(code, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  await shot(page, "23-pairing-code", { of: "#connection" });
});

test("once linked the number shows; logging out brings a fresh QR code", async () => {
  // The simulator stands in for the phone that enters the code.
  await api(base, adminKey, "POST", "/api/simulator", { action: "link" });
  await untilText(page, "#card-state", "Connected", REFRESH + SLACK);
  await untilText(page, "#connection-body", "+15550000000");
  const before = await api(base, adminKey, "GET", "/api/status");
  assert.equal(before.connection.state, "connected");

  const logout = page.locator("#connection-body button.danger");
  await logout.click();
  await untilText(page, "#connection-body button.danger", "Click again");
  await logout.click();
  await untilText(page, "#card-state", "Waiting for QR", REFRESH + SLACK);
  await qrShown();
  const after = await api(base, adminKey, "GET", "/api/session/qr");
  assert.ok(after.code, "a fresh code after logout");
  await shot(page, "24-fresh-qr-after-logout");
});

test("the QR image follows the code: a new code, a new image", async () => {
  const first = await qrSource();
  // A logout starts a new linking session: its code differs from the one shown.
  await api(base, adminKey, "POST", "/api/simulator", { action: "logout" });
  await qrShown(first);
  assert.notEqual(await qrSource(), first);
});

test("a user key is told the account is not linked, without the QR code", async () => {
  const key = await api(base, adminKey, "POST", "/api/keys", { name: "viewer", role: "user" });
  const userPage = await browser.page(base);
  await signIn(userPage, base, key.secret);
  await untilText(userPage, "#connection-body", "Not linked");
  assert.equal(await userPage.locator("#connection-body img").count(), 0);
  assert.equal(await userPage.locator("#connection-body form").count(), 0);
  await shot(userPage, "25-user-not-linked");
  await userPage.close();
});
