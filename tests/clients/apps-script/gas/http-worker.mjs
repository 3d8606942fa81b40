// The worker behind http-sync.mjs: performs each request with fetch and hands the answer back.

import { workerData } from 'node:worker_threads';

const { port, signal } = workerData;

port.on('message', async (request) => {
  let reply;
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body ?? undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    const body = new Uint8Array(await response.arrayBuffer());
    reply = { status: response.status, headers: [...response.headers], body };
  } catch (error) {
    reply = { error: error.name === 'TimeoutError' ? 'Timeout' : 'Address unavailable', detail: String(error.cause ?? error) };
  }
  port.postMessage(reply);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});
