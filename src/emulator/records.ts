/**
 * What the emulator keeps for tests to assert on: each call, each accepted inference,
 * each notification published, counters, and the events it emits.
 */
import type { SageMakerNotification } from './notifications.js';
import type { InvokeParams } from './validate-request.js';

/** One InvokeEndpointAsync call and how it was answered. */
export interface RequestRecord {
  seq: number;
  receivedAt: number;
  endpointName: string;
  /** Every parameter as parsed (CustomAttributes included: this is a test tool). */
  params: InvokeParams;
  /** Size of the HTTP payload (0 without Body). */
  bodyBytes: number;
  /** HTTP status answered: 202, 400, 500 or 503. */
  status: number;
  error?: { type: string; message: string };
  /** Set on 202. */
  inferenceId?: string;
  outputLocation?: string;
  failureLocation?: string;
  /** True when a fault knob or failNext chose the answer. */
  injected?: boolean;
}

export type InferenceStatus = 'queued' | 'running' | 'completed' | 'failed' | 'expired';

/** One accepted request, from 202 to its outcome. */
export interface InferenceRecord {
  inferenceId: string;
  endpointName: string;
  status: InferenceStatus;
  receivedAt: number;
  startedAt?: number;
  /** When the outcome was final: object written and notifications published (or dropped). */
  finishedAt?: number;
  inputLocation: string;
  /** True when the input came as Body (stored at inputLocation by the emulator). */
  inlineBody: boolean;
  outputLocation: string;
  failureLocation?: string;
  failureReason?: string;
  responseContentType?: string;
  /** When the output (or failure) object was written. */
  objectWrittenAt?: number;
  notificationsPublished: number;
  notificationDropped: boolean;
}

/** One notification published to SNS. */
export interface NotificationRecord {
  publishedAt: number;
  topicArn: string;
  kind: 'success' | 'error';
  inferenceId: string;
  endpointName: string;
  messageId?: string;
  /** 1, or 2 for the duplicate the duplicateNotificationRatio knob adds. */
  copy: number;
  message: SageMakerNotification;
}

export interface EndpointStats {
  queued: number;
  inFlight: number;
  peakInFlight: number;
  slots: number;
  received: number;
  accepted: number;
  completed: number;
  failed: number;
  expired: number;
}

export interface EmulatorStats {
  received: number;
  accepted: number;
  rejected: number;
  completed: number;
  failed: number;
  expired: number;
  notificationsPublished: number;
  notificationsDropped: number;
  notificationFailures: number;
  endpoints: Record<string, EndpointStats>;
}

export interface EmulatorEvents {
  /** A call was answered (any status). */
  request: [RequestRecord];
  /** An inference left the queue for a slot. */
  started: [InferenceRecord];
  completed: [InferenceRecord];
  failed: [InferenceRecord];
  expired: [InferenceRecord];
  notification: [NotificationRecord];
}
