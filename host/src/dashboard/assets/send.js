// Send a Test Message: a text (POST /api/messages) or a file with the text as its caption
// (POST /api/messages/media), and the status it got — or the error's code and sentence.

import { call } from "./api.js";
import { $, fill, h } from "./dom.js";

const form = $("#send-form");
const result = $("#send-result");
const notice = $("#send-state");

const UNLINKED = ["waiting_for_qr", "pairing", "logged_out"];

/** `context`: `{ refresh(), report(error, element) }`. */
export function init(context) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("#send-button");
    const to = $("#send-to").value.trim();
    const text = $("#send-text").value;
    const file = $("#send-file").files[0];
    button.disabled = true;
    result.hidden = false;
    result.className = "result";
    fill(result, h("p", {}, "Sending…"));
    try {
      const message = file ? await sendFile(to, text, file) : await call("POST", "/api/messages", { json: { to, text } });
      showAnswer(message);
      $("#send-text").value = "";
      $("#send-file").value = "";
      context.refresh();
    } catch (e) {
      context.report(e, result);
    } finally {
      button.disabled = false;
    }
  });
}

function sendFile(to, caption, file) {
  const body = new FormData();
  body.append("to", to);
  if (caption) body.append("caption", caption);
  body.append("file", file);
  return call("POST", "/api/messages/media", { form: body });
}

function showAnswer(message) {
  const what = {
    sent: "was sent while the request waited.",
    queued: "is queued: it will send when its turn comes.",
    sending: "is being sent.",
    failed: `failed: ${message.reason ?? "no reason given"}.`,
  };
  result.className = message.status === "failed" ? "result error" : "result ok";
  fill(
    result,
    h(
      "p",
      {},
      h("span", { class: `badge ${message.status}` }, message.status),
      ` Message #${message.id} ${what[message.status] ?? message.status}`,
    ),
  );
}

/** A note above the form while WhatsApp is not connected. */
export function render(status) {
  const state = status.connection.state;
  notice.hidden = state === "connected";
  if (UNLINKED.includes(state)) {
    notice.textContent = "WhatsApp is not linked: sends are refused (WHATSAPP_NOT_CONNECTED) until an admin links it.";
  } else if (state !== "connected") {
    notice.textContent = `WhatsApp is not connected (${state.replaceAll("_", " ")}): messages are accepted as queued and wait until it is.`;
  }
}
