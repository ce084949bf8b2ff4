/**
 * The constraints of InvokeEndpointAsync's input members (current service model), as pure
 * checks. The job validator applies them before any AWS call; the emulator applies them to
 * answer ValidationError like AWS does. Each check returns a problem message or undefined.
 */

export const MAX_BODY_BYTES = 128_000;

export const TTL_SECONDS = { min: 60, max: 21_600, default: 21_600 } as const;
export const INVOCATION_TIMEOUT_SECONDS = { min: 1, max: 3_600, default: 900 } as const;

const ENDPOINT_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/;
// \A\S[\p{Print}]*\z in the service model (Java regex: \p{Print} is printable ASCII):
// a first character that is printable and not a space, the rest printable ASCII.
const INFERENCE_ID = /^[\x21-\x7e][\x20-\x7e]*$/;
const INPUT_LOCATION = /^(https|s3):\/\/([^/]+)\/?(.*)$/;
const S3_OUTPUT_PATH_EXTENSION = /^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$/;
const FILENAME = /^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_.]*$/;
// eslint-style: printable ASCII including space (0x20-0x7e).
const ASCII = /^[\x20-\x7e]*$/;
// CustomAttributes: visible ASCII (the model says \p{ASCII}, documented as visible US-ASCII).
const VISIBLE_ASCII_OR_SPACE = /^[\x20-\x7e]*$/;

export function checkEndpointName(value: string): string | undefined {
  if (value.length < 1 || value.length > 63) return 'must be 1 to 63 characters long';
  if (!ENDPOINT_NAME.test(value))
    return 'must match ^[a-zA-Z0-9](-*[a-zA-Z0-9])* (letters, digits and inner hyphens)';
  return undefined;
}

export function checkContentType(value: string): string | undefined {
  if (value.length > 1024) return 'must be at most 1024 characters';
  if (!ASCII.test(value)) return 'must be printable ASCII';
  return undefined;
}

export const checkAccept = checkContentType;

export function checkCustomAttributes(value: string): string | undefined {
  if (value.length > 1024) return 'must be at most 1024 characters';
  if (!VISIBLE_ASCII_OR_SPACE.test(value)) return 'must be visible ASCII characters';
  return undefined;
}

export function checkInferenceId(value: string): string | undefined {
  if (value.length < 1 || value.length > 64) return 'must be 1 to 64 characters long';
  if (!INFERENCE_ID.test(value))
    return 'must start with a non-space character and hold only printable ASCII characters';
  return undefined;
}

export function checkInputLocation(value: string): string | undefined {
  if (value.length < 1 || value.length > 1024) return 'must be 1 to 1024 characters long';
  if (!INPUT_LOCATION.test(value)) return 'must be an s3:// or https:// URI';
  return undefined;
}

export function checkS3OutputPathExtension(value: string): string | undefined {
  if (value.length < 1 || value.length > 512) return 'must be 1 to 512 characters long';
  if (!S3_OUTPUT_PATH_EXTENSION.test(value))
    return "must hold only letters, digits and !_.*'()/- and must not start with s3: or https:";
  return undefined;
}

export function checkFilename(value: string): string | undefined {
  if (value.length < 1 || value.length > 32) return 'must be 1 to 32 characters long';
  if (!FILENAME.test(value))
    return 'must start with a letter or digit, hold only letters, digits, "-", "_" and ".", and at most one "."';
  return undefined;
}

function checkIntegerRange(value: number, range: { min: number; max: number }): string | undefined {
  if (!Number.isInteger(value)) return 'must be an integer';
  if (value < range.min || value > range.max) return `must be between ${range.min} and ${range.max}`;
  return undefined;
}

export function checkRequestTTLSeconds(value: number): string | undefined {
  return checkIntegerRange(value, TTL_SECONDS);
}

export function checkInvocationTimeoutSeconds(value: number): string | undefined {
  return checkIntegerRange(value, INVOCATION_TIMEOUT_SECONDS);
}

export function checkBodySize(bytes: number): string | undefined {
  if (bytes > MAX_BODY_BYTES) return `must be at most ${MAX_BODY_BYTES} bytes (was ${bytes})`;
  return undefined;
}

/**
 * The patterns the checks above apply, by job field, so that schema/job.schema.json can be
 * compared with them (test/contract/schema.test.ts). Every pattern is anchored (^...$); the
 * only flag used is `u` (JSON Schema patterns are ECMA-262 regular expressions in Unicode mode).
 */
export const API_PATTERNS = {
  endpointName: ENDPOINT_NAME,
  contentType: ASCII,
  accept: ASCII,
  customAttributes: VISIBLE_ASCII_OR_SPACE,
  inferenceId: INFERENCE_ID,
  inputLocation: INPUT_LOCATION,
  s3OutputPathExtension: S3_OUTPUT_PATH_EXTENSION,
  filename: FILENAME,
} as const satisfies Record<string, RegExp>;

/**
 * The length limits (in UTF-16 code units, as `string.length` counts) the checks above
 * apply, by job field; a test holds the check functions to them at both boundaries.
 */
export const API_LENGTHS = {
  endpointName: { min: 1, max: 63 },
  contentType: { min: 0, max: 1024 },
  accept: { min: 0, max: 1024 },
  customAttributes: { min: 0, max: 1024 },
  inferenceId: { min: 1, max: 64 },
  inputLocation: { min: 1, max: 1024 },
  s3OutputPathExtension: { min: 1, max: 512 },
  filename: { min: 1, max: 32 },
} as const satisfies Record<keyof typeof API_PATTERNS, { min: number; max: number }>;
