import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  type AwsSettings,
  createS3Client,
  createSageMakerRuntimeClient,
  createSnsClient,
  createSqsClient,
} from '../../src/aws/clients.js';
import {
  type EndpointInput,
  type Knobs,
  SageMakerEmulator,
  type SageMakerNotification,
} from '../../src/emulator/index.js';
import { type LocalAws, startLocalAws } from './fauxqs.js';
import { waitFor } from './wait-for.js';

/**
 * An endpoint for startAwsStack: like EndpointInput, but paths and topics default to the
 * stack's (`s3://<bucket>/output/<name>`, `s3://<bucket>/failure/<name>`, its success and
 * error topics). Give `null` for "none" (no failure path, no topic).
 */
export type StackEndpoint = Omit<EndpointInput, 's3OutputPath'> & { s3OutputPath?: string };

export interface AwsStackOptions {
  /** Default: one echo endpoint named `echo` (4 slots). */
  endpoints?: StackEndpoint[];
  knobs?: Partial<Knobs>;
  /** PRNG seed (default 1, so ratio knobs are reproducible). */
  seed?: number;
}

/** A received SQS message, parsed: `notification` is the SageMaker JSON whichever the delivery. */
export interface ReceivedNotification {
  body: string;
  /** The SNS envelope (envelope queue only). */
  envelope?: { Type: string; MessageId: string; TopicArn: string; Message: string; [key: string]: unknown };
  notification: SageMakerNotification;
}

export interface AwsStack {
  aws: LocalAws;
  emulator: SageMakerEmulator;
  /** Every client's settings, SageMaker Runtime pointing at the emulator. */
  settings: AwsSettings;
  sagemaker: SageMakerRuntimeClient;
  s3: S3Client;
  sns: SNSClient;
  sqs: SQSClient;
  bucket: string;
  successTopicArn: string;
  errorTopicArn: string;
  /** Both subscribed to both topics: `envelope` gets SNS envelopes, `raw` raw delivery. */
  queues: { envelope: string; raw: string };
  /** Reads an S3 object as text (`s3://bucket/key`). */
  readObject(location: string): Promise<string>;
  /** Whether an S3 object exists. */
  objectExists(location: string): Promise<boolean>;
  /** Receives (and deletes) messages from a queue until `count` arrived; throws after timeoutMs. */
  receive(queueUrl: string, count: number, timeoutMs?: number): Promise<ReceivedNotification[]>;
  /**
   * Between tests: waits until the emulator is idle, then empties every queue and bucket
   * (fauxqs keeps them) and resets the emulator (records, counters, knobs, failNext).
   */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

let stackCounter = 0;

function s3Target(location: string): { Bucket: string; Key: string } {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(location);
  if (!match?.[1] || !match[2]) throw new Error(`not an S3 object URI: ${location}`);
  return { Bucket: match[1], Key: match[2] };
}

/**
 * fauxqs (S3, SNS, SQS) and the emulator, wired together: a bucket, success and error
 * topics, two queues subscribed to both (SNS envelope and raw delivery), and SDK clients.
 */
export async function startAwsStack(options: AwsStackOptions = {}): Promise<AwsStack> {
  const aws = await startLocalAws();
  const id = ++stackCounter;
  const bucket = `smad-emulator-${id}`;
  const successTopic = `sagemaker-success-${id}`;
  const errorTopic = `sagemaker-error-${id}`;
  const envelopeQueue = `notifications-envelope-${id}`;
  const rawQueue = `notifications-raw-${id}`;
  aws.server.createBucket(bucket);
  const { topicArn: successTopicArn } = aws.server.createTopic(successTopic);
  const { topicArn: errorTopicArn } = aws.server.createTopic(errorTopic);
  const { queueUrl: envelopeUrl } = aws.server.createQueue(envelopeQueue);
  const { queueUrl: rawUrl } = aws.server.createQueue(rawQueue);
  for (const topic of [successTopic, errorTopic]) {
    aws.server.subscribe({ topic, queue: envelopeQueue });
    aws.server.subscribe({ topic, queue: rawQueue, attributes: { RawMessageDelivery: 'true' } });
  }

  const endpoints: EndpointInput[] = (options.endpoints ?? [{ name: 'echo' }]).map((e) => ({
    ...e,
    s3OutputPath: e.s3OutputPath ?? `s3://${bucket}/output/${e.name}`,
    s3FailurePath: e.s3FailurePath === undefined ? `s3://${bucket}/failure/${e.name}` : e.s3FailurePath,
    successTopicArn: e.successTopicArn === undefined ? successTopicArn : e.successTopicArn,
    errorTopicArn: e.errorTopicArn === undefined ? errorTopicArn : e.errorTopicArn,
  }));

  let emulator: SageMakerEmulator;
  try {
    emulator = await SageMakerEmulator.start({
      endpoints,
      knobs: options.knobs ?? {},
      aws: aws.settings,
      seed: options.seed ?? 1,
    });
  } catch (err) {
    await aws.stop();
    throw err;
  }
  const settings: AwsSettings = {
    ...aws.settings,
    endpoints: { ...aws.settings.endpoints, sagemakerRuntime: emulator.address },
  };
  const sagemaker = createSageMakerRuntimeClient(settings);
  const s3 = createS3Client(settings);
  const sns = createSnsClient(settings);
  const sqs = createSqsClient(settings);

  return {
    aws,
    emulator,
    settings,
    sagemaker,
    s3,
    sns,
    sqs,
    bucket,
    successTopicArn,
    errorTopicArn,
    queues: { envelope: envelopeUrl, raw: rawUrl },
    async readObject(location) {
      const out = await s3.send(new GetObjectCommand(s3Target(location)));
      return (await out.Body?.transformToString()) ?? '';
    },
    async objectExists(location) {
      try {
        await s3.send(new HeadObjectCommand(s3Target(location)));
        return true;
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
          return false;
        throw err;
      }
    },
    async receive(queueUrl, count, timeoutMs = 10_000) {
      const received: ReceivedNotification[] = [];
      await waitFor(
        async () => {
          const out = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
          );
          for (const message of out.Messages ?? []) {
            const body = message.Body ?? '';
            const parsed = JSON.parse(body) as Record<string, unknown>;
            if (parsed.Type === 'Notification' && typeof parsed.Message === 'string') {
              received.push({
                body,
                envelope: parsed as ReceivedNotification['envelope'] & object,
                notification: JSON.parse(parsed.Message) as SageMakerNotification,
              });
            } else {
              received.push({ body, notification: parsed as unknown as SageMakerNotification });
            }
            await sqs.send(
              new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
            );
          }
          return received.length >= count;
        },
        { timeoutMs, what: `${count} message(s) on ${queueUrl}` },
      );
      return received;
    },
    async reset() {
      await emulator.whenIdle();
      aws.server.reset();
      emulator.reset();
    },
    async stop() {
      sagemaker.destroy();
      await emulator.stop();
      s3.destroy();
      sns.destroy();
      sqs.destroy();
      await aws.stop();
    },
  };
}
