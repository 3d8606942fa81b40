// API Keys (admin): the list (name, prefix, role, last used, status), creating a key (its
// secret shown once, with a copy button) and revoking one.

import { call } from "./api.js";
import { $, cell, confirmButton, copy, fill, h } from "./dom.js";
import { timeView } from "./format.js";

const rows = $("#keys-rows");
const form = $("#key-form");
const error = $("#key-error");
const created = $("#key-created");
let ctx;

/** `context`: `{ refresh(), report(error, element) }`. */
export function init(context) {
  ctx = context;
  form.addEventListener("submit", create);
  $("#key-copy").addEventListener("click", (event) => copy($("#key-secret").textContent, event.currentTarget));
  $("#key-done").addEventListener("click", forgetSecret);
}

/** Hides the secret of the last created key and forgets it (also on sign-out). */
export function forgetSecret() {
  created.hidden = true;
  $("#key-secret").textContent = "";
}

export async function refresh() {
  const keys = await call("GET", "/api/keys");
  if (!keys.length) {
    fill(rows, h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No keys.")));
    return;
  }
  fill(rows, keys.map(row));
}

async function create(event) {
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  error.hidden = true;
  try {
    const key = await call("POST", "/api/keys", { json: { name: $("#key-name").value, role: $("#key-role").value } });
    $("#key-secret").textContent = key.secret;
    created.hidden = false;
    $("#key-name").value = "";
    $("#key-copy").focus();
    await refresh();
  } catch (e) {
    ctx.report(e, error);
  } finally {
    button.disabled = false;
  }
}

function row(k) {
  const revoked = k.status === "revoked";
  return h(
    "tr",
    { dataset: { key: k.id, status: k.status } },
    cell("Name", { class: "name" }, k.name),
    cell("Prefix", {}, h("code", {}, k.prefix)),
    cell("Role", {}, h("span", { class: `badge ${k.role}` }, k.role)),
    cell("Last used", {}, k.lastUsedAt ? timeView(k.lastUsedAt) : h("span", { class: "muted" }, "never")),
    cell("Status", {}, h("span", { class: `badge ${revoked ? "revoked" : "active"}` }, k.status)),
    h("td", { class: "row-actions" }, revoked ? null : revokeButton(k)),
  );
}

function revokeButton(k) {
  const revoke = async (button) => {
    button.disabled = true;
    try {
      await call("DELETE", `/api/keys/${encodeURIComponent(k.id)}`);
      error.hidden = true;
      await refresh();
    } catch (e) {
      button.disabled = false;
      ctx.report(e, error);
    }
  };
  return confirmButton("Revoke", "Click again to revoke", revoke, {
    class: "danger small",
    "aria-label": `Revoke key ${k.name}`,
  });
}
