/**
 * A separate process holding the local AWS stand-ins for a benchmark: fauxqs (S3, SNS, SQS)
 * with a bucket, success/error topics and a completions queue subscribed to both (SNS
 * envelope), and optionally smad's SageMaker async emulator. Run by lib/aws.js through
 * fork(); it answers requests over IPC. The emulator's author recommends a separate
 * process for throughput work: the in-process SDK would otherwise share the benchmark's CPU.
 *
 * It counts the emulator's 202 answers (first and last acceptance time), which is how the
 * throughput benchmark measures jobs/s at the endpoint.
 */
import { startFauxqs } from 'fauxqs';
import { SageMakerEmulator } from '../../dist/emulator/index.js';

const BUCKET = 'bench';
let fauxqs;
let emulator;
let counts = { accepted: 0, rejected: 0, first: 0, last: 0 };

function resetCounts() {
  counts = { accepted: 0, rejected: 0, first: 0, last: 0 };
}

const handlers = {
  /**
   * endpoints: emulator endpoints (none: fauxqs only); queues: {queueName: [topic names]}
   * (default: a "completions" queue on the success and error topics, SNS envelope).
   */
  async start({ endpoints = [], knobs = {}, queues = { completions: ['bench-success', 'bench-error'] } }) {
    fauxqs = await startFauxqs({ port: 0, logger: false });
    const address = fauxqs.address;
    fauxqs.createBucket(BUCKET);
    const topicArns = {};
    const topicNames = new Set(['bench-success', 'bench-error', ...Object.values(queues).flat()]);
    for (const topic of topicNames) topicArns[topic] = fauxqs.createTopic(topic).topicArn;
    const successTopicArn = topicArns['bench-success'];
    const errorTopicArn = topicArns['bench-error'];
    const queueUrls = {};
    for (const [name, topics] of Object.entries(queues)) {
      queueUrls[name] = fauxqs.createQueue(name).queueUrl;
      for (const topic of topics) fauxqs.subscribe({ topic, queue: name });
    }
    const aws = {
      region: 'us-east-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
      endpoints: { s3: address, sns: address, sqs: address },
    };
    let emulatorAddress;
    if (endpoints.length > 0) {
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
      });
      emulatorAddress = emulator.address;
      emulator.on('request', (record) => {
        if (record.status === 202) {
          counts.accepted += 1;
          if (counts.first === 0) counts.first = record.receivedAt;
          counts.last = record.receivedAt;
        } else {
          counts.rejected += 1;
        }
      });
    }
    return {
      awsAddress: address,
      emulatorAddress,
      bucket: BUCKET,
      successTopicArn,
      errorTopicArn,
      topicArns,
      queueUrls,
    };
  },
  counts() {
    return { ...counts, stats: emulator ? emulator.stats() : undefined };
  },
  resetCounts() {
    resetCounts();
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
