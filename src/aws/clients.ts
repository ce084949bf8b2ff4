import { S3Client } from '@aws-sdk/client-s3';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * Where the AWS clients point. Everything follows the AWS SDK's own conventions: region and
 * credentials from the default provider chain, and endpoint overrides from AWS_ENDPOINT_URL
 * and AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME / _SQS / _S3 / _SNS (local stand-ins).
 */
export interface AwsSettings {
  region?: string;
  endpoints: {
    sagemakerRuntime?: string;
    sqs?: string;
    s3?: string;
    sns?: string;
  };
  /** Explicit credentials (tests, local stand-ins); otherwise the default provider chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function awsSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsSettings {
  const any = env.AWS_ENDPOINT_URL || undefined;
  const settings: AwsSettings = {
    endpoints: {
      sagemakerRuntime: env.AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME || any,
      sqs: env.AWS_ENDPOINT_URL_SQS || any,
      s3: env.AWS_ENDPOINT_URL_S3 || any,
      sns: env.AWS_ENDPOINT_URL_SNS || any,
    },
  };
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (region) settings.region = region;
  return settings;
}

interface CommonOptions {
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  requestHandler?: NodeHttpHandler;
}

function common(settings: AwsSettings, endpoint: string | undefined, region?: string): CommonOptions {
  const options: CommonOptions = {};
  const chosenRegion = region || settings.region;
  if (chosenRegion) options.region = chosenRegion;
  if (endpoint) {
    options.endpoint = endpoint;
    // A local stand-in accepts any credentials; don't require a real chain for it.
    options.credentials = settings.credentials ?? { accessKeyId: 'local', secretAccessKey: 'local' };
    options.region ??= 'us-east-1';
  } else if (settings.credentials) {
    options.credentials = settings.credentials;
  }
  return options;
}

export interface SageMakerClientOptions {
  region?: string;
  requestTimeoutMs?: number;
  /** Sockets kept per client; sized to the dispatch concurrency. */
  maxSockets?: number;
}

export function createSageMakerRuntimeClient(
  settings: AwsSettings,
  options: SageMakerClientOptions = {},
): SageMakerRuntimeClient {
  return new SageMakerRuntimeClient({
    ...common(settings, settings.endpoints.sagemakerRuntime, options.region),
    // smad retries on its own schedule (same InferenceId, backoff, attempts in the ledger).
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      connectionTimeout: 5_000,
      httpAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 64 },
      httpsAgent: { keepAlive: true, maxSockets: options.maxSockets ?? 64 },
    }),
  });
}

export function createSqsClient(settings: AwsSettings, region?: string): SQSClient {
  const options = common(settings, settings.endpoints.sqs, region);
  // With an endpoint override, send to it rather than to the host inside the queue URL.
  return new SQSClient({ ...options, ...(options.endpoint ? { useQueueUrlAsEndpoint: false } : {}) });
}

export function createS3Client(settings: AwsSettings, region?: string): S3Client {
  const options = common(settings, settings.endpoints.s3, region);
  return new S3Client({ ...options, forcePathStyle: options.endpoint !== undefined });
}

export function createSnsClient(settings: AwsSettings, region?: string): SNSClient {
  return new SNSClient(common(settings, settings.endpoints.sns, region));
}
