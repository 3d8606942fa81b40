// Numbers as people read them: times in the viewer's own zone with how long ago, durations,
// ranges, sizes.

import { h } from "./dom.js";

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dated = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** "just now", "12 seconds ago", "3 minutes ago", "in 5 hours", "yesterday". */
export function relative(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  const size = Math.abs(seconds);
  if (size < 5) return "just now";
  if (size < 60) return relativeFormat.format(seconds, "second");
  if (size < 3600) return relativeFormat.format(Math.round(seconds / 60), "minute");
  if (size < 86400) return relativeFormat.format(Math.round(seconds / 3600), "hour");
  return relativeFormat.format(Math.round(seconds / 86400), "day");
}

/** A `<time>`: the clock time (with the date when not today), how long ago, the full date on hover. */
export function timeView(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return h(
    "time",
    { datetime: iso, title: full.format(date) },
    (today ? clock : dated).format(date),
    h("span", { class: "ago" }, relative(date)),
  );
}

/** Brings every "… ago" under `root` up to date. */
export function refreshAgo(root) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const ago = time.querySelector(".ago");
    if (ago) ago.textContent = relative(new Date(time.getAttribute("datetime")));
  }
}

/** "1.2 ms", "350 µs". */
export function micros(us) {
  if (us === null || us === undefined) return "—";
  return us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us} µs`;
}

/** "5s", "750ms", "1.5s" for a number of milliseconds. */
export function duration(ms) {
  if (ms >= 1000 && ms % 100 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** "5–9s" style ranges, the way the status endpoint writes the gap. */
export function range(minMs, maxMs) {
  const whole = minMs % 1000 === 0 && maxMs % 1000 === 0 && minMs > 0;
  if (whole) return minMs === maxMs ? `${minMs / 1000}s` : `${minMs / 1000}–${maxMs / 1000}s`;
  return minMs === maxMs ? `${minMs}ms` : `${minMs}ms–${maxMs}ms`;
}

/** "15 min", "1 h", "30 s". */
export function period(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** "25 MB", "512 KB". */
export function bytes(n) {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)} KB`;
  return `${n} bytes`;
}
