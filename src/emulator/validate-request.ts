/**
 * InvokeEndpointAsync request parsing and validation, as AWS does it: header values and
 * the payload in, the parameters or every problem out. Pure.
 */
import {
  checkAccept,
  checkBodySize,
  checkContentType,
  checkCustomAttributes,
  checkEndpointName,
  checkFilename,
  checkInferenceId,
  checkInputLocation,
  checkInvocationTimeoutSeconds,
  checkRequestTTLSeconds,
  checkS3OutputPathExtension,
} from '../contract/api-constraints.js';

/** The request headers, by lower-case name (the JS SDK sends them so). */
export const HEADERS = {
  contentType: 'x-amzn-sagemaker-content-type',
  accept: 'x-amzn-sagemaker-accept',
  customAttributes: 'x-amzn-sagemaker-custom-attributes',
  inferenceId: 'x-amzn-sagemaker-inference-id',
  inputLocation: 'x-amzn-sagemaker-inputlocation',
  s3OutputPathExtension: 'x-amzn-sagemaker-s3outputpathextension',
  filename: 'x-amzn-sagemaker-filename',
  requestTTLSeconds: 'x-amzn-sagemaker-requestttlseconds',
  invocationTimeoutSeconds: 'x-amzn-sagemaker-invocationtimeoutseconds',
} as const;

export interface InvokeParams {
  endpointName: string;
  contentType?: string;
  accept?: string;
  /** Sensitive: never logged. */
  customAttributes?: string;
  inferenceId?: string;
  inputLocation?: string;
  s3OutputPathExtension?: string;
  filename?: string;
  requestTTLSeconds?: number;
  invocationTimeoutSeconds?: number;
}

export interface InvokeRequest {
  /** The URI label, already percent-decoded. */
  endpointName: string;
  headers: Record<string, string | string[] | undefined>;
  /** The HTTP payload; an empty payload counts as no Body. */
  body?: Buffer | undefined;
}

export type ParseResult =
  | { ok: true; params: InvokeParams; body?: Buffer }
  | { ok: false; params: InvokeParams; bodyBytes: number; problems: string[] };

type StringMember = Exclude<
  keyof InvokeParams,
  'requestTTLSeconds' | 'invocationTimeoutSeconds' | 'endpointName'
>;

const STRING_CHECKS: Array<[StringMember, (value: string) => string | undefined]> = [
  ['contentType', checkContentType],
  ['accept', checkAccept],
  ['customAttributes', checkCustomAttributes],
  ['inferenceId', checkInferenceId],
  ['inputLocation', checkInputLocation],
  ['s3OutputPathExtension', checkS3OutputPathExtension],
  ['filename', checkFilename],
];

const SENSITIVE = new Set<string>(['customAttributes']);

/** How a value appears in a message: control characters escaped, long values cut. */
export function displayValue(value: string): string {
  const escaped = value.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping them is the point
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return escaped.length > 80 ? `${escaped.slice(0, 77)}...` : escaped;
}

/** One problem in the AWS wording: `Value 'x' at 'member' failed to satisfy constraint: Member ...`. */
export function constraintProblem(member: string, value: string | undefined, problem: string): string {
  const shown = value === undefined || SENSITIVE.has(member) ? '' : ` '${displayValue(value)}'`;
  return `Value${shown} at '${member}' failed to satisfy constraint: Member ${problem}`;
}

/** `N validation error(s) detected: p1; p2` */
export function validationMessage(problems: string[]): string {
  const n = problems.length;
  return `${n} validation error${n === 1 ? '' : 's'} detected: ${problems.join('; ')}`;
}

function header(headers: InvokeRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

export function parseInvokeRequest(request: InvokeRequest): ParseResult {
  const problems: string[] = [];
  const params: InvokeParams = { endpointName: request.endpointName };
  const nameProblem = checkEndpointName(request.endpointName);
  if (nameProblem) problems.push(constraintProblem('endpointName', request.endpointName, nameProblem));

  for (const [member, check] of STRING_CHECKS) {
    const value = header(request.headers, HEADERS[member]);
    if (value === undefined) continue;
    params[member] = value;
    const problem = check(value);
    if (problem) problems.push(constraintProblem(member, value, problem));
  }
  for (const [member, check] of [
    ['requestTTLSeconds', checkRequestTTLSeconds],
    ['invocationTimeoutSeconds', checkInvocationTimeoutSeconds],
  ] as const) {
    const raw = header(request.headers, HEADERS[member]);
    if (raw === undefined) continue;
    const value = /^[+-]?\d+(\.\d*)?$/.test(raw.trim()) ? Number(raw) : Number.NaN;
    if (Number.isNaN(value)) {
      problems.push(constraintProblem(member, raw, 'must be an integer'));
      continue;
    }
    params[member] = value;
    const problem = check(value);
    if (problem) problems.push(constraintProblem(member, raw, problem));
  }

  const body = request.body && request.body.length > 0 ? request.body : undefined;
  const bodyBytes = body?.length ?? 0;
  if (body) {
    const problem = checkBodySize(body.length);
    if (problem) problems.push(constraintProblem('body', undefined, problem));
  }
  if (body && params.inputLocation !== undefined)
    problems.push('Exactly one of Body and InputLocation must be provided, but the request has both');
  if (!body && params.inputLocation === undefined)
    problems.push('Exactly one of Body and InputLocation must be provided, but the request has neither');

  if (problems.length > 0) return { ok: false, params, bodyBytes, problems };
  return body ? { ok: true, params, body } : { ok: true, params };
}
