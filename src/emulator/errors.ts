/**
 * Error answers in the shape the real service sends them (rest-json): the type in the
 * `x-amzn-ErrorType` header, the message in the JSON body. The JS SDK turns them into
 * `ValidationError`, `InternalFailure`, `ServiceUnavailable` (modelled) or a generic
 * service exception named after the header (`ThrottlingException`).
 */
import { randomUUID } from 'node:crypto';

export interface AwsErrorAnswer {
  statusCode: number;
  type: string;
  message: string;
  headers: Record<string, string>;
  body: string;
}

function answer(statusCode: number, type: string, message: string, messageKey = 'Message'): AwsErrorAnswer {
  return {
    statusCode,
    type,
    message,
    headers: {
      'content-type': 'application/json',
      'x-amzn-ErrorType': type,
      'x-amzn-RequestId': randomUUID(),
    },
    body: JSON.stringify({ [messageKey]: message }),
  };
}

export function validationError(message: string): AwsErrorAnswer {
  return answer(400, 'ValidationError', message);
}

export function endpointNotFound(endpointName: string, accountId: string): AwsErrorAnswer {
  return validationError(`Endpoint ${endpointName} of account ${accountId} not found.`);
}

/** Unmodelled throttling, as the AWS front door answers it. */
export function throttling(): AwsErrorAnswer {
  return answer(400, 'ThrottlingException', 'Rate exceeded', 'message');
}

export function serviceUnavailable(): AwsErrorAnswer {
  return answer(503, 'ServiceUnavailable', 'The service is unavailable. Please try again later.');
}

export function internalFailure(): AwsErrorAnswer {
  return answer(500, 'InternalFailure', 'An internal error occurred. Please try again.');
}

export function unknownOperation(method: string, path: string): AwsErrorAnswer {
  return answer(404, 'UnknownOperationException', `No operation matches ${method} ${path}`, 'message');
}
