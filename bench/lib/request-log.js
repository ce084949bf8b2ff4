/**
 * The parent side of lib/request-log-child.js: fauxqs and the emulator in a separate process,
 * with the receive time of every call per endpoint. `env` points a smad process at them (the
 * AWS SDK's variables).
 */
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { stopChild, track } from './proc.js';

const CHILD = resolve(import.meta.dirname, 'request-log-child.js');

export async function startRequestLog({ endpoints, knobs = {} }) {
  const child = track(fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  let next = 0;
  const pending = new Map();
  child.on('message', (message) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new Error(`request-log child: ${message.error}`));
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values())
      waiter.reject(new Error(`request-log child exited (${code ?? signal})`));
    pending.clear();
  });
  const call = (cmd, args) =>
    new Promise((resolveCall, reject) => {
      const id = ++next;
      pending.set(id, { resolve: resolveCall, reject });
      child.send({ id, cmd, args });
    });
  const info = await call('start', { endpoints, knobs });
  return {
    env: {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_ENDPOINT_URL: info.awsAddress,
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: info.emulatorAddress,
    },
    /** Calls an endpoint received so far. */
    count: (endpointName) => call('count', { endpointName }),
    /** Receive times (ms) of the calls an endpoint received, and answers by HTTP status. */
    times: (endpointName) => call('times', { endpointName }),
    reset: () => call('reset'),
    async stop() {
      try {
        await Promise.race([call('stop'), new Promise((r) => setTimeout(r, 10_000))]);
      } catch {
        // it may exit before answering
      }
      await stopChild(child, 'SIGTERM', 5_000);
    },
  };
}
