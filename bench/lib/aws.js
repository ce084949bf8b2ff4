/**
 * The parent side of lib/emulator-child.js: local AWS (fauxqs) and, when endpoints are given,
 * the SageMaker async emulator, in one separate process. `settings` are AwsSettings for
 * dist/aws/clients.js; `env` points a smad process at the same stand-ins (AWS SDK variables).
 */
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { cpuMs, stopChild, track } from './proc.js';

const CHILD = resolve(import.meta.dirname, 'emulator-child.js');

export async function startAws({ endpoints = [], knobs = {}, queues } = {}) {
  const child = track(fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  let next = 0;
  const pending = new Map();
  child.on('message', (message) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new Error(`aws child: ${message.error}`));
  });
  child.once('exit', (code, signal) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`aws child exited (${code ?? signal})`));
    pending.clear();
  });
  const call = (cmd, args) =>
    new Promise((resolveCall, reject) => {
      const id = ++next;
      pending.set(id, { resolve: resolveCall, reject });
      child.send({ id, cmd, args });
    });
  const info = await call('start', { endpoints, knobs, queues });
  const settings = {
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    endpoints: {
      s3: info.awsAddress,
      sns: info.awsAddress,
      sqs: info.awsAddress,
      ...(info.emulatorAddress ? { sagemakerRuntime: info.emulatorAddress } : {}),
    },
  };
  const env = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_ENDPOINT_URL: info.awsAddress,
    ...(info.emulatorAddress ? { AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: info.emulatorAddress } : {}),
  };
  return {
    ...info,
    pid: child.pid,
    settings,
    env,
    /** 202s counted since the last reset: {accepted, rejected, first, last, stats}. */
    counts: () => call('counts'),
    resetCounts: () => call('resetCounts'),
    cpuMs: () => cpuMs(child.pid),
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
