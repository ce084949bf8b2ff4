/**
 * The job contract: the data a producer puts on the `inference` queue (or POSTs to
 * /v1/inferences), and the normalized form the dispatcher works with once `validateJob`
 * accepted it. schema/job.schema.json publishes the same contract for producers in other
 * languages; test/contract/schema.test.ts keeps the two in step.
 */

/** A value JSON can represent. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object (never an array or null). */
export type JsonObject = { [key: string]: JsonValue };

/** How an inline `body` string is turned into bytes. */
export const BODY_ENCODINGS = ['utf8', 'base64'] as const;
export type BodyEncoding = (typeof BODY_ENCODINGS)[number];
export const DEFAULT_BODY_ENCODING: BodyEncoding = 'utf8';

/** The largest `metadata`, measured as the UTF-8 bytes of its JSON serialisation. */
export const MAX_METADATA_BYTES = 16 * 1024;
/** The longest `webhook.url`, in characters. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/** Where and how to deliver this job's outcome; overrides `webhooks.defaultUrl`. */
export interface JobWebhook {
  /** Absolute http:// or https:// URL, at most 2048 characters, without user:password@. */
  url: string;
  /**
   * Standard Webhooks signing secret (`whsec_` + base64 of 24 to 64 bytes). Without it the
   * configured `webhooks.secret` signs the delivery.
   */
  secret?: string;
}

/**
 * The data of an inference job, as a producer sends it. Exactly one of `inputLocation` and
 * `body` is given. Every string is passed to InvokeEndpointAsync verbatim and must meet the
 * API's constraints (src/contract/api-constraints.ts).
 */
export interface InferenceJobData {
  /** SageMaker endpoint to invoke (1 to 63 letters, digits and inner hyphens). */
  endpointName: string;
  /** `s3://` or `https://` URI of an existing payload (the API's InputLocation). */
  inputLocation?: string;
  /**
   * Inline payload. Up to 128,000 decoded bytes it is sent as the API's Body; larger ones
   * are uploaded to `staging.s3Uri` and sent as InputLocation. Never empty.
   */
  body?: string;
  /** How `body` is encoded: `utf8` (the default) or `base64` (standard alphabet, padded). */
  bodyEncoding?: BodyEncoding;
  /** The API's ContentType: printable ASCII, at most 1024 characters. */
  contentType?: string;
  /** The API's Accept: printable ASCII, at most 1024 characters. */
  accept?: string;
  /** The API's CustomAttributes: printable ASCII, at most 1024 characters. Never logged. */
  customAttributes?: string;
  /**
   * The API's InferenceId (1 to 64 printable ASCII characters, the first not a space). Unique:
   * a second job with the same id is rejected. When absent smad assigns one, stable across retries.
   */
  inferenceId?: string;
  /** The API's RequestTTLSeconds: integer 60 to 21600 (API default 21600). */
  requestTTLSeconds?: number;
  /** The API's InvocationTimeoutSeconds: integer 1 to 3600 (API default 900). */
  invocationTimeoutSeconds?: number;
  /** The API's Filename: 1 to 32 letters, digits, `-`, `_`, `.`, at most one `.`. */
  filename?: string;
  /** The API's S3OutputPathExtension: 1 to 512 of letters, digits and `!_.*'()/-`. */
  s3OutputPathExtension?: string;
  /** Per-job webhook; otherwise `webhooks.defaultUrl`, otherwise none. */
  webhook?: JobWebhook;
  /** Opaque JSON object, at most 16 KiB serialised, echoed in status and webhooks. */
  metadata?: JsonObject;
}

/** Every field of InferenceJobData, in the order problems are reported. */
export const JOB_FIELDS = [
  'endpointName',
  'inputLocation',
  'body',
  'bodyEncoding',
  'contentType',
  'accept',
  'customAttributes',
  'inferenceId',
  'requestTTLSeconds',
  'invocationTimeoutSeconds',
  'filename',
  's3OutputPathExtension',
  'webhook',
  'metadata',
] as const satisfies readonly (keyof InferenceJobData)[];
export type JobField = (typeof JOB_FIELDS)[number];

/** Every field of JobWebhook. */
export const WEBHOOK_FIELDS = ['url', 'secret'] as const satisfies readonly (keyof JobWebhook)[];

/** The fields of a valid job other than its payload. */
export interface ValidJobCommon {
  endpointName: string;
  contentType?: string;
  accept?: string;
  customAttributes?: string;
  inferenceId?: string;
  requestTTLSeconds?: number;
  invocationTimeoutSeconds?: number;
  filename?: string;
  s3OutputPathExtension?: string;
  webhook?: JobWebhook;
  /**
   * A copy made by a JSON round trip, so it is exactly what status and webhooks echo.
   * Absent when the job had none.
   */
  metadata?: JsonObject;
}

/** A valid job whose payload is already stored: sent as the API's InputLocation. */
export interface ValidLocationJob extends ValidJobCommon {
  inputLocation: string;
  body?: undefined;
  bodyEncoding?: undefined;
  bodyBytes?: undefined;
}

/**
 * A valid job with an inline payload. `bodyBytes` is the decoded body (1 byte to
 * `maxInlineBytes`); more than MAX_BODY_BYTES (128,000) of it must be staged to S3.
 */
export interface ValidBodyJob extends ValidJobCommon {
  inputLocation?: undefined;
  /** The body as the producer sent it (the same string, not a copy). */
  body: string;
  /** The encoding, resolved: `utf8` when the producer gave none. */
  bodyEncoding: BodyEncoding;
  /** The decoded payload bytes. */
  bodyBytes: Buffer;
}

/**
 * A job `validateJob` accepted: every API constraint met, exactly one payload. Narrow on
 * `job.bodyBytes !== undefined` (or `job.inputLocation !== undefined`).
 */
export type ValidJob = ValidLocationJob | ValidBodyJob;
