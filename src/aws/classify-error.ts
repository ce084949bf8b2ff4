/**
 * AWS errors classified once, here; every other part of smad uses the class, never the raw
 * error. Throttling is not modelled for InvokeEndpointAsync: it arrives as a generic service
 * exception whose `name` is the wire type and whose status is 400 or 429, so classification
 * goes by name and status, not by class.
 */
export type AwsErrorClass =
  | 'validation'
  | 'access'
  | 'throttling'
  | 'unavailable'
  | 'internal'
  | 'timeout'
  | 'network'
  | 'client'
  | 'unknown';

export interface ClassifiedAwsError {
  class: AwsErrorClass;
  /** Worth another attempt with backoff (same InferenceId). */
  retryable: boolean;
  /** Throttling or 503: the endpoint wants fewer calls. */
  slowDown: boolean;
  name: string;
  httpStatus: number | undefined;
  message: string;
}

const THROTTLING_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded',
  'LimitExceededException',
]);

const ACCESS_NAMES = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'NotAuthorized',
  'CredentialsProviderError',
  'InvalidAccessKeyId',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'AbortError']);

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $response?: { statusCode?: unknown };
}

export function classifyAwsError(err: unknown): ClassifiedAwsError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as ErrorLike;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
  const statusRaw = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const httpStatus = typeof statusRaw === 'number' ? statusRaw : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const make = (cls: AwsErrorClass, retryable: boolean, slowDown = false): ClassifiedAwsError => ({
    class: cls,
    retryable,
    slowDown,
    name,
    httpStatus,
    message,
  });

  if (name === 'ValidationError' || name === 'ValidationException') return make('validation', false);
  if (THROTTLING_NAMES.has(name) || httpStatus === 429) return make('throttling', true, true);
  if (ACCESS_NAMES.has(name) || httpStatus === 401 || httpStatus === 403) return make('access', false);
  if (name === 'ServiceUnavailable' || name === 'ServiceUnavailableException' || httpStatus === 503)
    return make('unavailable', true, true);
  if (
    name === 'InternalFailure' ||
    name === 'InternalServerError' ||
    name === 'InternalServerException' ||
    (httpStatus !== undefined && httpStatus >= 500)
  )
    return make('internal', true);
  if (TIMEOUT_NAMES.has(name) || code === 'ETIMEDOUT' || code === 'UND_ERR_HEADERS_TIMEOUT')
    return make('timeout', true);
  if (
    (code !== undefined && NETWORK_CODES.has(code)) ||
    /socket hang up|ECONNRESET|ECONNREFUSED/.test(message)
  )
    return make('network', true);
  if (httpStatus !== undefined && httpStatus >= 400) return make('client', false);
  // No HTTP answer at all: the request never got through; another attempt is safe.
  if (httpStatus === undefined) return make('network', true);
  return make('unknown', false);
}
