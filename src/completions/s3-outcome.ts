import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parseS3Uri } from '../aws/s3-uri.js';

export type S3Outcome =
  | { kind: 'completed'; contentType: string | null }
  | { kind: 'failed'; reason: string }
  | { kind: 'none' };

const FAILURE_TEXT_LIMIT = 4096;

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * Looks for an inference's result in S3, for a missed notification or an endpoint without
 * notifications: the output object means completed, the failure object failed (its text,
 * truncated, is the reason), neither means nothing yet. Other S3 errors propagate.
 */
export async function checkS3Outcome(
  s3: S3Client,
  outputLocation: string | null,
  failureLocation: string | null,
): Promise<S3Outcome> {
  if (outputLocation) {
    try {
      const { bucket, key } = parseS3Uri(outputLocation);
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { kind: 'completed', contentType: head.ContentType ?? null };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  if (failureLocation) {
    try {
      const { bucket, key } = parseS3Uri(failureLocation);
      const got = await s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=0-${FAILURE_TEXT_LIMIT - 1}` }),
      );
      const text = (await got.Body?.transformToString('utf8'))?.trim();
      return {
        kind: 'failed',
        reason: text || 'the failure object was found in S3 (no notification received)',
      };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return { kind: 'none' };
}
