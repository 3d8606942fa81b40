// Message Queue & History: queued messages first in send order (the top one sends next), then
// history newest first, as GET /api/messages lists them; a status filter, cancel on queued rows,
// and more rows on demand.

import { call } from "./api.js";
import { $, cell, fill, h } from "./dom.js";
import { timeView, zone } from "./format.js";

const rows = $("#queue-rows");
const filter = $("#queue-filter");
const more = $("#queue-more");
const PAGE = 50;
let limit = PAGE;
let ctx;

/** `context`: `{ refresh(), report(error, element) }`. */
export function init(context) {
  ctx = context;
  filter.addEventListener("change", () => {
    limit = PAGE;
    ctx.refresh();
  });
  more.addEventListener("click", () => {
    limit = Math.min(limit + PAGE, 500);
    ctx.refresh();
  });
  $("#queue-zone").textContent = `Times in your time zone (${zone()}).`;
}

export async function refresh() {
  const query = new URLSearchParams({ limit: String(limit) });
  if (filter.value) query.set("status", filter.value);
  const page = await call("GET", `/api/messages?${query}`);
  render(page);
}

function render(page) {
  const focused = document.activeElement?.dataset?.cancel;
  if (page.items.length === 0) {
    const what = filter.value ? `No ${filter.value} messages.` : "No messages yet. Send a test message above.";
    fill(rows, h("tr", {}, h("td", { colspan: 7, class: "empty" }, what)));
  } else {
    const firstQueued = page.items.find((m) => m.status === "queued")?.id;
    fill(rows, page.items.map((m) => row(m, m.id === firstQueued)));
  }
  more.hidden = !page.nextCursor || limit >= 500;
  if (focused) $(`[data-cancel="${focused}"]`)?.focus();
}

function row(m, next) {
  const text = m.text ?? "";
  const file = m.media ? h("span", { class: "file" }, m.media.fileName) : null;
  return h(
    "tr",
    { dataset: { id: String(m.id), status: m.status } },
    cell("#", {}, String(m.id)),
    cell("Type", {}, m.type),
    cell("Recipient", { class: "recipient" }, m.to),
    cell("Message", { class: "message" }, file, text ? h("span", { class: "text" }, text) : null),
    cell("Status", {}, statusView(m, next)),
    cell("Time", {}, timeView(when(m))),
    h("td", { class: "row-actions" }, m.status === "queued" ? cancelButton(m.id) : null),
  );
}

function statusView(m, next) {
  const receipts = m.readAt ? "read" : m.deliveredAt ? "delivered" : null;
  return [
    h("span", { class: `badge ${m.status}` }, m.status),
    next ? h("span", { class: "next" }, "sends next") : null,
    receipts ? h("span", { class: "receipt" }, receipts) : null,
    m.reason ? h("span", { class: "reason" }, m.reason) : null,
  ];
}

/** The moment that matters for its status: when it went out, ended, or was accepted. */
function when(m) {
  if (m.status === "sent") return m.sentAt ?? m.updatedAt;
  if (m.status === "failed" || m.status === "cancelled") return m.updatedAt;
  return m.createdAt;
}

function cancelButton(id) {
  const cancel = async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    const error = $("#queue-error");
    try {
      await call("DELETE", `/api/messages/${id}`);
      error.hidden = true;
    } catch (e) {
      ctx.report(e, error);
    }
    ctx.refresh();
  };
  return h(
    "button",
    { type: "button", class: "secondary small", dataset: { cancel: String(id) }, "aria-label": `Cancel message ${id}`, onclick: cancel },
    "Cancel",
  );
}
