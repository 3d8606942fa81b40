// The overview cards (connection, queue, anti-ban gap, role, today's sends) and the numbers from
// the configuration that the page's explanations quote.

import { $, bind } from "./dom.js";
import { bytes, period, range } from "./format.js";

/** How each session state reads, and the colour of its dot. */
export const STATES = {
  starting: ["Starting", "wait"],
  waiting_for_qr: ["Waiting for QR scan", "wait"],
  pairing: ["Pairing", "wait"],
  connected: ["Connected", "ok"],
  reconnecting: ["Reconnecting", "warn"],
  logged_out: ["Logged out", "bad"],
  temporarily_banned: ["Temporarily banned", "bad"],
};

export function render(status) {
  const [label, tone] = STATES[status.connection.state] ?? [status.connection.state, "wait"];
  const state = $("#card-state");
  state.className = `card-value state-${tone}`;
  state.querySelector(".text").textContent = label;
  $("#card-queue").textContent = String(status.pendingMessages);
  $("#card-gap").textContent = status.antiBan.gap;
  $("#card-role").textContent = status.keyRole;
  $("#card-today").textContent = `${status.sentToday} / ${status.dailyLimit}`;
  $("#version").textContent = `wapi ${status.version} · ${status.connection.backend} backend`;

  const a = status.antiBan;
  bind("gap", a.gap);
  bind("cooldown", range(a.cooldownMinMs, a.cooldownMaxMs));
  bind("cooldown-every", String(a.cooldownEvery));
  bind("daily-limit", String(status.dailyLimit));
  bind("sync-wait", range(a.syncWaitMs, a.syncWaitMs));
  const l = status.limits;
  if (l) {
    bind("max-upload", bytes(l.maxUploadBytes));
    bind("sends-budget", `${l.sendsPerWindow} per key per ${period(l.windowSecs)}`);
    bind("reads-budget", `${l.readsPerWindow} per ${period(l.windowSecs)}`);
  }
}

/** While the server cannot be reached, the last state seen is not shown as current. */
export function unreachable() {
  const state = $("#card-state");
  state.className = "card-value state-bad";
  state.querySelector(".text").textContent = "Unknown: server unreachable";
}
