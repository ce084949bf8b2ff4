/**
 * Parses an SQS message body into a SageMaker async completion notification. Accepts the
 * SNS envelope (the SageMaker JSON is a string inside `Message`) and raw delivery; success
 * (`Completed`) and error (`Failed`) messages; `responseParameters` present or missing; an
 * embedded `responseBody`. Never throws: anything else is `malformed` with the reason.
 */

export interface CompletionNotification {
  kind: 'notification';
  inferenceId: string;
  status: 'completed' | 'failed';
  endpointName: string | null;
  outputLocation: string | null;
  responseContentType: string | null;
  failureReason: string | null;
  /** Base64 content of an embedded response (IncludeInferenceResponseIn). */
  responseBody: string | null;
  eventTime: string | null;
  /** 'sns' when the body was an SNS envelope, 'raw' for raw delivery. */
  delivery: 'sns' | 'raw';
}

export interface MalformedMessage {
  kind: 'malformed';
  reason: string;
}

/**
 * SageMaker's notifications are small: an embedded response is at most 128 KB (about 171 KB
 * as base64) inside an SNS envelope that escapes it once more. Anything larger is not one.
 */
export const MAX_MESSAGE_BYTES = 512 * 1024;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function optionalString(obj: Obj, field: string, path: string, problems: string[]): string | null {
  const value = obj[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    problems.push(`${path}${field} must be a string`);
    return null;
  }
  return value;
}

export function parseNotification(body: string | undefined): CompletionNotification | MalformedMessage {
  if (body === undefined || body.length === 0) return { kind: 'malformed', reason: 'empty message body' };
  if (Buffer.byteLength(body, 'utf8') > MAX_MESSAGE_BYTES)
    return { kind: 'malformed', reason: `message body larger than ${MAX_MESSAGE_BYTES} bytes` };
  const outer = parseJson(body);
  if (!outer.ok) return { kind: 'malformed', reason: `message body is not JSON (${outer.error})` };
  if (!isObject(outer.value)) return { kind: 'malformed', reason: 'message body is not a JSON object' };

  let inner: unknown = outer.value;
  let delivery: 'sns' | 'raw' = 'raw';
  const envelope = outer.value;
  if ('Type' in envelope || 'TopicArn' in envelope || 'Message' in envelope) {
    if (envelope.Type !== 'Notification')
      return {
        kind: 'malformed',
        reason: `SNS envelope of type ${JSON.stringify(envelope.Type)} (not a Notification)`,
      };
    if (typeof envelope.Message !== 'string')
      return { kind: 'malformed', reason: 'SNS envelope without a string Message' };
    const parsed = parseJson(envelope.Message);
    if (!parsed.ok) return { kind: 'malformed', reason: `SNS Message is not JSON (${parsed.error})` };
    inner = parsed.value;
    delivery = 'sns';
  }
  if (!isObject(inner)) return { kind: 'malformed', reason: 'notification is not a JSON object' };

  const problems: string[] = [];
  const inferenceId = inner.inferenceId;
  if (typeof inferenceId !== 'string' || inferenceId.trim().length === 0) {
    problems.push(
      inferenceId === undefined ? 'inferenceId is missing' : 'inferenceId must be a non-empty string',
    );
  } else if (inferenceId.length > 1024) {
    problems.push('inferenceId is longer than 1024 characters');
  }
  const rawStatus = inner.invocationStatus;
  let status: 'completed' | 'failed' | undefined;
  if (rawStatus === 'Completed') status = 'completed';
  else if (rawStatus === 'Failed') status = 'failed';
  else
    problems.push(
      rawStatus === undefined
        ? 'invocationStatus is missing'
        : `invocationStatus ${JSON.stringify(rawStatus)} is neither "Completed" nor "Failed"`,
    );

  let endpointName: string | null = null;
  if (inner.requestParameters !== undefined && inner.requestParameters !== null) {
    if (!isObject(inner.requestParameters)) problems.push('requestParameters must be an object');
    else
      endpointName = optionalString(inner.requestParameters, 'endpointName', 'requestParameters.', problems);
  }
  let outputLocation: string | null = null;
  let responseContentType: string | null = null;
  if (inner.responseParameters !== undefined && inner.responseParameters !== null) {
    if (!isObject(inner.responseParameters)) problems.push('responseParameters must be an object');
    else {
      outputLocation = optionalString(
        inner.responseParameters,
        'outputLocation',
        'responseParameters.',
        problems,
      );
      responseContentType = optionalString(
        inner.responseParameters,
        'contentType',
        'responseParameters.',
        problems,
      );
    }
  }
  const failureReason = optionalString(inner, 'failureReason', '', problems);
  const eventTime = optionalString(inner, 'eventTime', '', problems);

  let responseBody: string | null = null;
  if (inner.responseBody !== undefined && inner.responseBody !== null) {
    const rb = inner.responseBody;
    if (!isObject(rb)) problems.push('responseBody must be an object');
    else if (typeof rb.content !== 'string') problems.push('responseBody.content must be a string');
    else if (rb.encoding !== undefined && String(rb.encoding).toUpperCase() !== 'BASE64')
      problems.push(`responseBody.encoding ${JSON.stringify(rb.encoding)} is not BASE64`);
    else if (!BASE64.test(rb.content) || rb.content.length % 4 !== 0)
      problems.push('responseBody.content is not valid base64');
    else responseBody = rb.content;
  }

  if (problems.length > 0 || status === undefined || typeof inferenceId !== 'string')
    return { kind: 'malformed', reason: problems.join('; ') };
  return {
    kind: 'notification',
    inferenceId,
    status,
    endpointName,
    outputLocation,
    responseContentType,
    failureReason:
      status === 'failed' ? (failureReason ?? 'the endpoint reported a failure without a reason') : null,
    responseBody,
    eventTime,
    delivery,
  };
}
