import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { type AwsSettings, createS3Client } from '../aws/clients.js';
import { parseS3Uri } from '../aws/s3-uri.js';
import { policyFor } from '../config/endpoint-policies.js';
import type { SmadConfig } from '../config/load.js';
import type { LedgerRecord } from '../ledger/record.js';

/** SigV4 presigned URLs are valid for at most 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60;

/**
 * A presigned GET URL of an s3:// object, valid `expiresInSeconds` (capped at 7 days). Signing
 * is local (no request is made), so the object need not exist yet.
 */
export async function presignGetUrl(s3: S3Client, s3Uri: string, expiresInSeconds: number): Promise<string> {
  const { bucket, key } = parseS3Uri(s3Uri);
  return getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), {
    expiresIn: Math.max(1, Math.min(MAX_PRESIGN_SECONDS, Math.floor(expiresInSeconds))),
  });
}

/** Presigns locations with one S3 client per region (the endpoint's region from its policy). */
export class S3Presigner {
  private readonly clients = new Map<string, S3Client>();

  constructor(
    private readonly config: Pick<SmadConfig, 'endpoints' | 'webhooks'>,
    private readonly aws: AwsSettings,
  ) {}

  /** For OutboxRelayOptions.presigner. */
  readonly presign = (s3Uri: string, record: Pick<LedgerRecord, 'endpointName'>): Promise<string> => {
    const region = record.endpointName ? policyFor(this.config.endpoints, record.endpointName).region : '';
    let client = this.clients.get(region);
    if (!client) {
      client = createS3Client(this.aws, region || undefined);
      this.clients.set(region, client);
    }
    return presignGetUrl(client, s3Uri, this.config.webhooks.presignSeconds);
  };

  close(): void {
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }
}
