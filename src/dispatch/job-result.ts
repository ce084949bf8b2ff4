import type { LedgerRecord } from '../ledger/record.js';

/** What a completed inference job returns (its BullMQ return value). */
export interface DispatchResult {
  inferenceId: string;
  status: 'completed';
  endpointName: string;
  outputLocation: string | null;
  failureLocation: string | null;
  responseContentType: string | null;
  submittedAt: string | null;
  resolvedAt: string | null;
}

export function resultOf(record: LedgerRecord): DispatchResult {
  return {
    inferenceId: record.inferenceId,
    status: 'completed',
    endpointName: record.endpointName,
    outputLocation: record.outputLocation,
    failureLocation: record.failureLocation,
    responseContentType: record.responseContentType,
    submittedAt: record.submittedAt,
    resolvedAt: record.resolvedAt,
  };
}
