import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino removes from every log line: secrets, bearer tokens and CustomAttributes
 * (marked sensitive by the SageMaker API) wherever they appear.
 */
export const REDACTED_PATHS = [
  'secret',
  '*.secret',
  '*.*.secret',
  'webhook.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  '*.token',
  'authTokens',
  '*.authTokens',
  '*.*.authTokens',
  'customAttributes',
  '*.customAttributes',
  '*.*.customAttributes',
  'CustomAttributes',
  '*.CustomAttributes',
  '*.*.CustomAttributes',
  '["x-amzn-sagemaker-custom-attributes"]',
  '*["x-amzn-sagemaker-custom-attributes"]',
  '*.*["x-amzn-sagemaker-custom-attributes"]',
];

export interface LoggerOptions {
  level: string;
  name?: string;
  destination?: DestinationStream;
}

/** JSON-lines logger; children carry `inferenceId` and `jobId` when they are known. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      name: options.name ?? 'smad',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A child logger for one inference: every line names it. */
export function inferenceLogger(logger: Logger, ids: { inferenceId?: string; jobId?: string }): Logger {
  const bindings: Record<string, string> = {};
  if (ids.inferenceId) bindings.inferenceId = ids.inferenceId;
  if (ids.jobId) bindings.jobId = ids.jobId;
  return logger.child(bindings);
}
