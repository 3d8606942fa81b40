// A synchronous HTTP transport for the UrlFetchApp fake — Apps Script's fetch blocks the script,
// so this one does too: a worker thread makes the request while this thread waits on a shared
// flag, then reads the answer from the worker's port.

import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';

const TIMEOUT_MS = 60_000;

export function httpTransport() {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./http-worker.mjs', import.meta.url), {
    workerData: { port: port2, signal },
    transferList: [port2],
  });
  worker.unref();

  function transport(request) {
    Atomics.store(signal, 0, 0);
    port1.postMessage({
      url: request.url,
      method: request.method,
      headers: request.headers,
      body: request.body,
      timeoutMs: TIMEOUT_MS,
    });
    if (Atomics.wait(signal, 0, 0, TIMEOUT_MS + 5_000) === 'timed-out') throw new Error(`Timeout: ${request.url}`);
    const reply = receiveMessageOnPort(port1)?.message;
    if (!reply) throw new Error('fake: the HTTP worker answered nothing');
    if (reply.error) throw new Error(`${reply.error}: ${request.url}`);
    return reply;
  }
  transport.close = () => worker.terminate();
  return transport;
}
