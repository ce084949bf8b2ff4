/**
 * The latency baseline (the floor): a bare SQS long-poll → HTTP POST relay. `pollers` receive
 * loops (as smad's completions.pollers) long-poll the queue for batches of up to 10 with the
 * same SDK client settings as smad (createSqsClient); each message is unwrapped (SNS envelope
 * → SageMaker notification) and POSTed as a small JSON body to the receiver over keep-alive
 * HTTP; handled messages are deleted in a batch. No Redis, no ledger, no signing, no queue.
 * Run as its own process by latency.bench.js; configured by one JSON argument.
 */
import { Agent, request } from 'node:http';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { createSqsClient } from '../../dist/aws/clients.js';

const options = JSON.parse(process.argv[2]);
const sqs = createSqsClient(options.aws);
const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 16 });
const target = new URL(options.url);
let running = true;

function post(body) {
  return new Promise((resolvePost) => {
    const req = request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolvePost(res.statusCode));
      },
    );
    req.on('error', () => resolvePost(0));
    req.end(body);
  });
}

async function handle(message) {
  const envelope = JSON.parse(message.Body);
  const notification = typeof envelope.Message === 'string' ? JSON.parse(envelope.Message) : envelope;
  await post(
    JSON.stringify({ inferenceId: notification.inferenceId, status: notification.invocationStatus }),
  );
}

async function loop() {
  while (running) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: options.waitTimeSeconds,
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) continue;
    await Promise.all(messages.map(handle));
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: options.queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}

const loops = Array.from({ length: options.pollers }, () => loop());
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  running = false;
  // Long polls end within waitTimeSeconds; do not wait for them.
  setTimeout(() => process.exit(0), 50);
});
void Promise.all(loops);
