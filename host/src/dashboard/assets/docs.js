// The API docs on the page: the base URLs (the domain from server.public_url, and direct
// IP:port), the code examples of clients/examples/ with the viewer's base URL put in, and every
// endpoint read from /api/openapi.json so the list cannot drift from the server.

import { publicText } from "./api.js";
import { $, codeText, copy, fill, h } from "./dom.js";

/** The base URL the examples were written with; the viewer's own replaces it. */
const EXAMPLE_BASE = "http://localhost:8080";
const EXAMPLES = [
  { label: "curl", file: "send-text.sh" },
  { label: "JavaScript", file: "send-text.mjs" },
  { label: "Python", file: "send_text.py" },
  { label: "PHP", file: "send-text.php" },
];
const METHODS = ["get", "post", "put", "patch", "delete"];

const loads = { examples: null, endpoints: null };

/** Loads the examples and the endpoint list once; a part that failed is tried again. */
export function load() {
  const once = (name, loader) =>
    (loads[name] ??= loader().catch((e) => {
      loads[name] = null;
      throw e;
    }));
  return Promise.all([once("examples", loadExamples), once("endpoints", loadEndpoints)]);
}

export function render(status) {
  const server = status.server;
  if (!server) return;
  const domain = server.publicUrl;
  $("#base-domain").textContent = domain ?? "not configured";
  note(
    "#base-domain-note",
    !domain
      ? "Set server.public_url in config.toml (e.g. https://wa.example.com) once a domain with a certificate points here."
      : domain.startsWith("http://")
        ? "This URL is not HTTPS: keys would travel in clear text."
        : "",
  );
  const direct = directBase(server);
  $("#base-direct").textContent = direct.url;
  note("#base-direct-note", direct.note);
}

function note(selector, text) {
  const el = $(selector);
  el.textContent = text;
  el.hidden = !text;
}

/** `http://IP:port` from `server.listen`, with what the browser knows filling the gaps. */
function directBase(server) {
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(server.listen) ?? [];
  const [, host = "", port = ""] = match;
  const scheme = server.tls ? "https" : "http";
  const actualPort = port === "0" || !port ? location.port || (scheme === "https" ? "443" : "80") : port;
  if (host === "0.0.0.0" || host === "::") {
    const ip = isIpAddress(location.hostname) ? location.hostname : "YOUR_SERVER_IP";
    return { url: `${scheme}://${ip}:${actualPort}`, note: "" };
  }
  const shown = host.includes(":") ? `[${host}]` : host;
  const loopback = host.startsWith("127.") || host === "::1";
  return {
    url: `${scheme}://${shown}:${actualPort}`,
    note: loopback
      ? "Listening on loopback only: reachable from this machine or through a reverse proxy, not from outside. Set server.listen = \"0.0.0.0:8080\" for direct access."
      : "",
  };
}

function isIpAddress(name) {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.startsWith("[");
}

async function loadExamples() {
  const texts = await Promise.all(EXAMPLES.map((e) => publicText(`/dashboard/examples/${e.file}`)));
  const base = location.origin;
  const code = $("#example-code");
  const tabs = EXAMPLES.map((example, i) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `example-tab-${i}`,
        "aria-controls": "example-panel",
        "aria-selected": "false",
        tabindex: "-1",
        onclick: () => select(i),
        onkeydown: (event) => {
          const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
          if (step) select((i + step + EXAMPLES.length) % EXAMPLES.length, true);
        },
      },
      example.label,
    ),
  );
  const select = (i, focus = false) => {
    tabs.forEach((tab, j) => {
      tab.setAttribute("aria-selected", String(i === j));
      tab.tabIndex = i === j ? 0 : -1;
    });
    $("#example-panel").setAttribute("aria-labelledby", tabs[i].id);
    code.textContent = texts[i].replaceAll(EXAMPLE_BASE, base);
    if (focus) tabs[i].focus();
  };
  fill($("#example-tabs"), tabs);
  $("#example-copy").addEventListener("click", (event) => copy(code.textContent, event.currentTarget));
  select(0);
}

async function loadEndpoints() {
  const doc = JSON.parse(await publicText("/api/openapi.json"));
  const groups = new Map((doc.tags ?? []).map((t) => [t.name, { description: t.description, items: [] }]));
  for (const [path, operations] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS.filter((m) => operations[m])) {
      const op = operations[method];
      const tag = op.tags?.[0] ?? "other";
      if (!groups.has(tag)) groups.set(tag, { description: "", items: [] });
      groups.get(tag).items.push(endpoint(method, path, op, doc));
    }
  }
  const sections = [...groups.entries()]
    .filter(([, group]) => group.items.length)
    .map(([name, group]) =>
      h("div", { class: "endpoint-group" }, h("h4", {}, name, group.description ? h("span", { class: "muted" }, ` — ${group.description}`) : null), group.items),
    );
  fill($("#endpoints"), sections);
}

function endpoint(method, path, op, doc) {
  const admin = Boolean(op.responses?.["403"]);
  return h(
    "details",
    { class: "endpoint" },
    h(
      "summary",
      {},
      h("span", { class: `method ${method}` }, method.toUpperCase()),
      h("code", { class: "path" }, path),
      h("span", { class: "summary" }, op.summary ?? ""),
      h("span", { class: `badge ${admin ? "admin" : "user"}` }, admin ? "admin" : "user"),
    ),
    h(
      "div",
      { class: "endpoint-body" },
      (op.description ?? "").split("\n\n").filter(Boolean).map((p) => h("p", {}, codeText(p))),
      parameters(op.parameters ?? []),
      requestBody(op.requestBody, doc),
      responses(op.responses ?? {}),
    ),
  );
}

function parameters(list) {
  if (!list.length) return null;
  return [
    h("h5", {}, "Parameters"),
    h("ul", {}, list.map((p) => h("li", {}, h("code", {}, p.name), ` (${p.in}${p.required ? ", required" : ""}) `, codeText(p.description ?? "")))),
  ];
}

function requestBody(body, doc) {
  if (!body?.content) return null;
  const [type, media] = Object.entries(body.content)[0];
  const schema = resolve(media.schema, doc);
  const required = new Set(schema?.required ?? []);
  const fields = Object.entries(schema?.properties ?? {}).map(([name, prop]) =>
    h("li", {}, h("code", {}, name), ` (${typeOf(prop, doc)}${required.has(name) ? ", required" : ""}) `, codeText(resolve(prop, doc)?.description ?? "")),
  );
  return [h("h5", {}, "Body ", h("code", {}, type)), fields.length ? h("ul", {}, fields) : null];
}

function responses(all) {
  return [
    h("h5", {}, "Responses"),
    h("ul", { class: "responses" }, Object.entries(all).map(([code, r]) => h("li", {}, h("code", {}, code), " ", codeText(r.description ?? "")))),
  ];
}

function resolve(schema, doc) {
  const ref = schema?.$ref;
  if (!ref) return schema;
  return ref.split("/").slice(1).reduce((node, part) => node?.[part], doc);
}

function typeOf(prop, doc) {
  const schema = resolve(prop, doc) ?? {};
  if (prop?.$ref) return prop.$ref.split("/").pop();
  const type = Array.isArray(schema.type) ? schema.type.filter((t) => t !== "null").join(" | ") : schema.type;
  if (type === "array") return `array of ${typeOf(schema.items, doc)}`;
  return type ?? (schema.oneOf || schema.anyOf ? "one of several" : "any");
}
