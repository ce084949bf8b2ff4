import type { JobWaker } from '../dispatch/job-waker.js';
import type { Ledger } from '../ledger/ledger.js';
import type { CompletionNotification } from './parse-notification.js';

export type ResolutionOutcome = 'resolved' | 'duplicate' | 'unknown';

/** Responses embedded in notifications are kept for the webhook up to this size (base64 chars). */
export const MAX_KEPT_RESPONSE_BASE64 = 256 * 1024;

/**
 * Applies one notification: the ledger record moves to completed or failed (atomically with
 * the in-flight slot release and the outbox event), then the parked job is woken to reach
 * its final state. Idempotent: a duplicate or late message finds the record final and
 * changes nothing, but still wakes the job, so that a crash between the ledger write and
 * the wake is repaired by the redelivery (the message is deleted after this returns).
 */
export async function resolveNotification(
  ledger: Ledger,
  waker: JobWaker,
  notification: CompletionNotification,
): Promise<ResolutionOutcome> {
  const keptBody =
    notification.responseBody && notification.responseBody.length <= MAX_KEPT_RESPONSE_BASE64
      ? notification.responseBody
      : null;
  const result =
    notification.status === 'completed'
      ? await ledger.advance(notification.inferenceId, 'completed', {
          set: {
            responseContentType: notification.responseContentType,
            responseBody: keptBody,
            // The output this notification reports is where the result is. It differs from
            // the recorded one when a call was sent again after a crash (same inferenceId,
            // SageMaker ran both) and the first one finished first.
            outputLocation: notification.outputLocation,
          },
          fill: { outputLocation: notification.outputLocation },
        })
      : await ledger.advance(notification.inferenceId, 'failed', {
          set: { failureReason: notification.failureReason, responseBody: keptBody },
        });
  if (result.kind === 'missing') return 'unknown';
  // Resolved from 'submitted': the dispatcher may still be parking the job (see wakeResolved).
  if (result.kind === 'ok' && result.previous === 'submitted') await waker.wakeResolved(result.jobId);
  else await waker.wake(result.jobId);
  return result.kind === 'ok' ? 'resolved' : 'duplicate';
}
