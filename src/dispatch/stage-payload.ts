import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { joinS3, parseS3Uri } from '../aws/s3-uri.js';

/**
 * Uploads an inline body to the staging location under a key derived from the inference id,
 * so that a retry overwrites the same object instead of adding another. Returns its s3:// URI.
 */
export async function stagePayload(
  s3: S3Client,
  stagingUri: string,
  inferenceId: string,
  body: Uint8Array,
  contentType: string | undefined,
): Promise<string> {
  const location = joinS3(stagingUri, `${encodeURIComponent(inferenceId)}.in`);
  const { bucket, key } = parseS3Uri(location);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: contentType ?? 'application/octet-stream',
    }),
  );
  return location;
}
