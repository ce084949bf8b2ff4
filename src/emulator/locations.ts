/**
 * S3 locations the emulator hands out: where outputs, failure objects and stored inline
 * bodies go. Pure string work; the naming rules are the ones in the README.
 */

export interface S3Location {
  bucket: string;
  /** Object key, or key prefix for a path; no leading slash, no trailing slash. */
  key: string;
}

const S3_URI = /^s3:\/\/([^/]+)(?:\/(.*))?$/;

/** Parses `s3://bucket/key`; returns undefined for anything else. */
export function parseS3Uri(uri: string): S3Location | undefined {
  const match = S3_URI.exec(uri);
  if (!match?.[1]) return undefined;
  return { bucket: match[1], key: trimSlashes(match[2] ?? '') };
}

export function formatS3Uri(location: S3Location): string {
  return location.key ? `s3://${location.bucket}/${location.key}` : `s3://${location.bucket}`;
}

function trimSlashes(value: string): string {
  return value.replace(/^\/+/, '').replace(/\/+$/, '');
}

/** `<path>/<segment>/<segment>...`, skipping empty segments and doubled slashes. */
export function joinS3(path: string, ...segments: Array<string | undefined>): string {
  const base = path.replace(/\/+$/, '');
  const rest = segments
    .filter((s): s is string => s !== undefined && s !== '')
    .map(trimSlashes)
    .filter((s) => s !== '');
  return [base, ...rest].join('/');
}

/** `<S3OutputPath>/[<S3OutputPathExtension>/]<Filename or <uuid>.out>` */
export function outputLocation(
  s3OutputPath: string,
  objectId: string,
  options: { s3OutputPathExtension?: string; filename?: string },
): string {
  return joinS3(s3OutputPath, options.s3OutputPathExtension, options.filename ?? `${objectId}.out`);
}

/** `<S3FailurePath>/[<S3OutputPathExtension>/]<uuid>-error.out` */
export function failureLocation(
  s3FailurePath: string,
  objectId: string,
  options: { s3OutputPathExtension?: string },
): string {
  return joinS3(s3FailurePath, options.s3OutputPathExtension, `${objectId}-error.out`);
}

/**
 * Where an inline Body is stored so that the notification can name an input location:
 * `<inlineInputPath>/<uuid>`, the default path being `async-inputs` beside the output
 * prefix: `s3://bucket/a/out` → `s3://bucket/a/async-inputs`, `s3://bucket/out` and
 * `s3://bucket` → `s3://bucket/async-inputs`.
 */
export function defaultInlineInputPath(s3OutputPath: string): string {
  const parsed = parseS3Uri(s3OutputPath);
  if (!parsed) throw new Error(`not an s3:// URI: ${s3OutputPath}`);
  const parts = parsed.key.split('/').filter((p) => p !== '');
  parts.pop();
  return formatS3Uri({ bucket: parsed.bucket, key: [...parts, 'async-inputs'].join('/') });
}

export function inlineInputLocation(inlineInputPath: string, objectId: string): string {
  return joinS3(inlineInputPath, objectId);
}
