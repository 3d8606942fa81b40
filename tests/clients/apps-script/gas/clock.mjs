// Time for the fakes. A virtual clock moves only when a run sleeps or a test skips ahead; the
// real clock is the wall clock (sleeps block the thread) plus whatever a test skipped.

export function virtualClock(start = Date.UTC(2026, 10, 30, 9, 0, 0)) {
  let now = start;
  return {
    now: () => now,
    sleep(ms) {
      now += ms;
    },
    skip(ms) {
      now += ms;
    },
  };
}

export function realClock() {
  let offset = 0;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return {
    now: () => Date.now() + offset,
    sleep(ms) {
      if (ms > 0) Atomics.wait(cell, 0, 0, ms);
    },
    skip(ms) {
      offset += ms;
    },
  };
}
