/**
 * The throughput baseline: a bare BullMQ Worker with the given concurrency whose processor
 * only calls InvokeEndpointAsync on the emulator (the same SDK client settings as smad's
 * dispatcher: createSageMakerRuntimeClient, maxAttempts 1, keep-alive sockets sized to the
 * concurrency) and completes. No validation, no ledger, no flow control, no logging.
 * Run as its own process by throughput.bench.js; configured by one JSON argument.
 */
import { randomUUID } from 'node:crypto';
import { InvokeEndpointAsyncCommand } from '@aws-sdk/client-sagemaker-runtime';
import { Worker } from 'bullmq';
import { createSageMakerRuntimeClient } from '../../dist/aws/clients.js';

const options = JSON.parse(process.argv[2]);
const sagemaker = createSageMakerRuntimeClient(options.aws, {
  requestTimeoutMs: 30_000,
  maxSockets: Math.max(16, options.concurrency * 2),
});
const worker = new Worker(
  options.queueName,
  async (job) => {
    const data = job.data;
    await sagemaker.send(
      new InvokeEndpointAsyncCommand({
        EndpointName: data.endpointName,
        ContentType: data.contentType,
        InferenceId: data.inferenceId ?? randomUUID(),
        InputLocation: data.inputLocation,
        Body: data.body === undefined ? undefined : Buffer.from(data.body, 'utf8'),
      }),
    );
    return 'ok';
  },
  {
    connection: { host: '127.0.0.1', port: options.redisPort, maxRetriesPerRequest: null },
    prefix: options.prefix,
    concurrency: options.concurrency,
  },
);
worker.on('error', (err) => process.stderr.write(`baseline worker error: ${err.message}\n`));
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  worker.close().then(() => {
    sagemaker.destroy();
    process.exit(0);
  });
});
