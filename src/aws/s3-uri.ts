export interface S3Location {
  bucket: string;
  key: string;
}

/** Parses s3://bucket/key (the key may be empty for a bucket or prefix). */
export function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match?.[1]) throw new Error(`not an s3:// URI: ${uri}`);
  return { bucket: match[1], key: match[2] ?? '' };
}

/** Joins an s3:// prefix and a key part with exactly one slash. */
export function joinS3(prefixUri: string, part: string): string {
  return `${prefixUri.replace(/\/+$/, '')}/${part.replace(/^\/+/, '')}`;
}
