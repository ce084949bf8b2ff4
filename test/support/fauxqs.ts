import { type FauxqsServer, startFauxqs } from 'fauxqs';
import type { AwsSettings } from '../../src/aws/clients.js';

/** An in-process fauxqs (SNS, SQS, S3) on a free port, and AWS settings pointing at it. */
export interface LocalAws {
  server: FauxqsServer;
  address: string;
  /** Settings for every client except SageMaker Runtime (add the emulator's address for that). */
  settings: AwsSettings;
  stop(): Promise<void>;
}

export async function startLocalAws(): Promise<LocalAws> {
  const server = await startFauxqs({ port: 0, logger: false });
  const address = server.address;
  return {
    server,
    address,
    settings: {
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      endpoints: { sqs: address, s3: address, sns: address },
    },
    stop: () => server.stop(),
  };
}
