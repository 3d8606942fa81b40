// Plugins (admin): each plugin in call order with its version, hooks, state or load error,
// calls, failures and latency, then those that failed to load.

import { call } from "./api.js";
import { $, cell, fill, h } from "./dom.js";
import { micros } from "./format.js";

const rows = $("#plugins-rows");

export async function refresh() {
  const plugins = await call("GET", "/api/plugins");
  if (!plugins.length) {
    const empty = "No plugins loaded. Put .wasm files in the plugins folder (plugins.dir in config.toml); they load without a restart.";
    fill(rows, h("tr", {}, h("td", { colspan: 7, class: "empty" }, empty)));
    return;
  }
  fill(rows, plugins.map(row));
}

function row(p) {
  return h(
    "tr",
    { dataset: { plugin: p.name } },
    cell("Name", { class: "name" }, p.name, p.order ? h("span", { class: "muted" }, ` #${p.order}`) : null),
    cell("Version", {}, p.version ?? "—"),
    cell("Hooks", {}, p.hooks.length ? p.hooks.map((hook) => h("span", { class: "badge hook" }, hook)) : "—"),
    cell("State", {}, h("span", { class: `badge ${p.state}` }, p.state), p.loadError ? h("span", { class: "reason" }, p.loadError) : null),
    cell("Calls", {}, String(p.calls)),
    cell("Failures", { class: p.failures ? "bad" : "" }, String(p.failures)),
    cell("p50 / p99", {}, `${micros(p.p50Us)} / ${micros(p.p99Us)}`),
  );
}
