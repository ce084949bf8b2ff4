/**
 * Reading inputs and writing outputs: S3 (GetObject / PutObject) and https:// inputs.
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { HttpClient } from './http-client.js';
import { parseS3Uri } from './locations.js';

export class ObjectStore {
  constructor(
    private readonly s3: S3Client,
    private readonly http: HttpClient,
  ) {}

  /** The bytes at an s3:// or https:// location. */
  async read(location: string, signal?: AbortSignal): Promise<Buffer> {
    if (location.startsWith('https://')) {
      const res = await this.http.request(location, signal ? { signal } : {});
      if (res.status !== 200) throw new Error(`GET ${location} answered ${res.status}`);
      return res.body;
    }
    const target = parseS3Uri(location);
    if (!target?.key) throw new Error(`not an S3 object location: ${location}`);
    const out = await this.s3.send(
      new GetObjectCommand({ Bucket: target.bucket, Key: target.key }),
      signal ? { abortSignal: signal } : {},
    );
    if (!out.Body) return Buffer.alloc(0);
    return Buffer.from(await out.Body.transformToByteArray());
  }

  async write(location: string, body: Buffer, contentType: string): Promise<void> {
    const target = parseS3Uri(location);
    if (!target?.key) throw new Error(`not an S3 object location: ${location}`);
    await this.s3.send(
      new PutObjectCommand({ Bucket: target.bucket, Key: target.key, Body: body, ContentType: contentType }),
    );
  }
}
