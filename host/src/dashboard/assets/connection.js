// The WhatsApp Connection panel: the session's state, the QR code (fetched again on every
// refresh while it waits for a scan, so it follows WhatsApp's rotation), linking by pairing code,
// the linked number and logout. Linking and logout are admin actions.

import { call } from "./api.js";
import { $, confirmButton, fill, h } from "./dom.js";
import { refreshAgo, timeView } from "./format.js";

const body = $("#connection-body");
const qrImage = h("img", { class: "qr-image", alt: "WhatsApp linking QR code", width: 256, height: 256, hidden: true });
const qrCaption = h("figcaption", {});
let qr = { code: null, url: null };
let pairCode = null;
let shown = "";
let ctx;

/** `context`: `{ refresh(), report(error, element) }`. */
export function init(context) {
  ctx = context;
}

export function render(status) {
  const c = status.connection;
  const admin = status.keyRole === "admin";
  if (c.state !== "waiting_for_qr") forgetQr();
  const view = [c.state, c.number, c.lastError, c.since, admin].join("|");
  if (view === shown) {
    refreshAgo(body);
    return;
  }
  shown = view;
  fill(body, viewOf(c, admin, status.connection.backend === "simulator"));
  showQr();
}

/** Whether the page should ask for the QR code on this refresh. */
export function wantsQr(status) {
  return status.keyRole === "admin" && status.connection.state === "waiting_for_qr";
}

export async function refreshQr() {
  const data = await call("GET", "/api/session/qr");
  if (data.code === qr.code) return;
  forgetQr();
  qr.code = data.code;
  if (data.svg) qr.url = URL.createObjectURL(new Blob([data.svg], { type: "image/svg+xml" }));
  showQr();
}

function forgetQr() {
  if (qr.url) URL.revokeObjectURL(qr.url);
  qr = { code: null, url: null };
}

function showQr() {
  qrImage.hidden = !qr.url;
  if (qr.url) {
    qrImage.src = qr.url;
    qrCaption.textContent = "Scan it with WhatsApp. It refreshes here as WhatsApp rotates it.";
  } else {
    fill(qrCaption, h("strong", {}, "Starting WhatsApp session…"), h("br"), "Hold on, preparing your QR code.");
  }
}

function viewOf(c, admin, simulator) {
  const number = c.number ? `+${c.number}` : "";
  switch (c.state) {
    case "starting":
      return [lead("Starting WhatsApp session…"), h("p", { class: "muted" }, "Hold on, preparing your QR code.")];
    case "waiting_for_qr":
      return admin ? linkingView(simulator) : notLinked();
    case "pairing":
      return [
        lead("Enter the pairing code on the phone"),
        pairCode ? h("p", { class: "pair-code", "aria-label": "Pairing code" }, pairCode) : null,
        h("p", {}, "On the phone: WhatsApp → Linked devices → Link a device → Link with phone number instead, then type the code."),
      ];
    case "connected":
      return [
        lead("Connected", "ok"),
        h("p", {}, "Linked number: ", h("strong", { class: "number" }, number || "unknown")),
        h("p", { class: "muted" }, "Since ", timeView(c.since)),
        admin ? logoutButton() : null,
      ];
    case "reconnecting":
      return [
        lead("Reconnecting…", "warn"),
        reason(c.lastError),
        h("p", {}, "WhatsApp is not connected right now. Queued messages wait and send once it is back."),
        admin ? logoutButton() : null,
      ];
    case "logged_out":
      return [lead("Logged out", "bad"), reason(c.lastError), h("p", {}, "A fresh QR code follows.")];
    case "temporarily_banned":
      return [
        lead("Temporarily banned by WhatsApp", "bad"),
        reason(c.lastError),
        h("p", {}, "Do not unlink or relink. The queue holds every message; make the pacing gentler before the ban ends."),
      ];
    default:
      return [lead(c.state), reason(c.lastError)];
  }
}

function lead(text, tone = "") {
  return h("p", { class: `lead ${tone}` }, text);
}

function reason(lastError) {
  return lastError ? h("p", { class: "reason" }, lastError) : null;
}

function notLinked() {
  return [
    lead("Not linked", "warn"),
    h("p", {}, "WhatsApp is not linked yet, so sends are refused until it is. An admin key shows the QR code to scan here."),
  ];
}

function linkingView(simulator) {
  return h(
    "div",
    { class: "linking" },
    h("figure", { class: "qr" }, qrImage, qrCaption),
    h(
      "div",
      { class: "linking-steps" },
      h(
        "ol",
        { class: "steps" },
        h("li", {}, "Open WhatsApp on your phone."),
        h("li", {}, "Settings → ", h("strong", {}, "Linked devices"), " → ", h("strong", {}, "Link a device"), "."),
        h("li", {}, "Point the phone at the code."),
      ),
      pairForm(),
      simulator ? simulatorLink() : null,
    ),
  );
}

// Runs `work` with `button` disabled, then refreshes the page's state; a failure is reported
// in `result`.
async function whileDisabled(button, result, work) {
  button.disabled = true;
  try {
    await work();
    ctx.refresh();
  } catch (e) {
    ctx.report(e, result);
  } finally {
    button.disabled = false;
  }
}

function pairForm() {
  const result = h("div", { class: "result", role: "status", "aria-live": "polite" });
  const phone = h("input", {
    id: "pair-phone",
    type: "text",
    inputmode: "tel",
    autocomplete: "off",
    placeholder: "923001234567",
    "aria-describedby": "pair-help",
  });
  const submit = async (event) => {
    event.preventDefault();
    await whileDisabled(event.target.querySelector("button"), result, async () => {
      const data = await call("POST", "/api/session/pair", { json: { phone: phone.value.trim() } });
      pairCode = data.code;
      fill(result);
    });
  };
  return h(
    "form",
    { class: "pair", novalidate: true, onsubmit: submit },
    h("h3", {}, "No camera? Link with phone number instead"),
    h("label", { for: "pair-phone" }, "Phone number of the account to link"),
    phone,
    h("p", { id: "pair-help", class: "hint" }, "Digits with country code, no +. You get an 8-character code to type on the phone."),
    h("button", { type: "submit" }, "Get pairing code"),
    result,
  );
}

function simulatorLink() {
  const result = h("div", { class: "result", role: "status" });
  const link = async () => {
    try {
      await call("POST", "/api/simulator", { json: { action: "link" } });
      ctx.refresh();
    } catch (e) {
      ctx.report(e, result);
    }
  };
  return h(
    "p",
    { class: "muted" },
    "Simulator backend: nothing to scan. ",
    h("button", { type: "button", class: "secondary", onclick: link }, "Link the simulator"),
    result,
  );
}

function logoutButton() {
  const result = h("div", { class: "result", role: "status" });
  const logout = (button) =>
    whileDisabled(button, result, async () => {
      await call("POST", "/api/session/logout");
      pairCode = null;
    });
  return h(
    "div",
    { class: "logout" },
    confirmButton("Log out of WhatsApp", "Click again to unlink this number", logout, { class: "danger" }),
    result,
  );
}
