/**
 * A separate process holding fauxqs (S3, SNS, SQS: a bucket and success/error topics) and
 * the SageMaker async emulator, keeping the receive time of every InvokeEndpointAsync call
 * per endpoint, as the endpoint saw it. Forked by lib/request-log.js; answers over IPC. In
 * its own process so the benchmark's own work never delays the emulator's clock readings.
 */
import { startFauxqs } from 'fauxqs';
import { SageMakerEmulator } from '../../dist/emulator/index.js';

const BUCKET = 'bench';
let fauxqs;
let emulator;
/** endpointName → receive times (ms), in arrival order; status counts. */
let received = new Map();
let statuses = {};

const handlers = {
  async start({ endpoints = [], knobs = {} }) {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    fauxqs.createBucket(BUCKET);
    const { topicArn: successTopicArn } = fauxqs.createTopic('bench-success');
    const { topicArn: errorTopicArn } = fauxqs.createTopic('bench-error');
    const aws = {
      region: 'us-east-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
      endpoints: { s3: fauxqs.address, sns: fauxqs.address, sqs: fauxqs.address },
    };
    emulator = await SageMakerEmulator.start({
      endpoints: endpoints.map((e) => ({
        s3OutputPath: `s3://${BUCKET}/output/${e.name}`,
        s3FailurePath: `s3://${BUCKET}/failure/${e.name}`,
        successTopicArn,
        errorTopicArn,
        ...e,
      })),
      knobs,
      aws,
      seed: 1,
      // Only the receive times are kept here; the emulator's own log stays small.
      maxRecords: 1000,
    });
    emulator.on('request', (record) => {
      const list = received.get(record.endpointName) ?? [];
      if (list.length === 0) received.set(record.endpointName, list);
      list.push(record.receivedAt);
      statuses[record.status] = (statuses[record.status] ?? 0) + 1;
    });
    return { awsAddress: fauxqs.address, emulatorAddress: emulator.address };
  },
  count({ endpointName }) {
    return received.get(endpointName)?.length ?? 0;
  },
  times({ endpointName }) {
    return { times: received.get(endpointName) ?? [], statuses };
  },
  reset() {
    received = new Map();
    statuses = {};
    return true;
  },
  async stop() {
    if (emulator) await emulator.stop();
    if (fauxqs) await fauxqs.stop();
    return true;
  },
};

process.on('message', async (message) => {
  const { id, cmd, args } = message;
  try {
    const result = await handlers[cmd](args ?? {});
    process.send({ id, ok: true, result });
    if (cmd === 'stop') setImmediate(() => process.exit(0));
  } catch (err) {
    process.send({ id, ok: false, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
