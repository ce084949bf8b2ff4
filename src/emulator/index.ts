/** The local SageMaker async endpoint: see the README section "The SageMaker async emulator". */
export {
  DEFAULT_FAIL_REASON,
  type EmulatorConfig,
  EmulatorConfigError,
  type EmulatorConfigInput,
  type EndpointConfig,
  type EndpointInput,
  type ModelConfig,
  NOTIFICATION_TOPICS,
  type NotificationTopic,
  parseEmulatorConfig,
} from './config.js';
export {
  DEFAULT_ACCOUNT_ID,
  type EmulatorOptions,
  EXPIRED_REASON,
  invocationTimeoutReason,
  SageMakerEmulator,
} from './emulator.js';
export {
  checkKnobs,
  DEFAULT_KNOBS,
  EXPIRED_NOTIFICATION_MODES,
  type ExpiredNotificationMode,
  type FailNextOptions,
  type ForcedStatus,
  KNOB_NAMES,
  KnobError,
  type Knobs,
} from './knobs.js';
export { modelErrorReason } from './models/container.js';
export { parseDirective } from './models/echo.js';
export type { SageMakerNotification } from './notifications.js';
export type {
  EmulatorEvents,
  EmulatorStats,
  EndpointStats,
  InferenceRecord,
  InferenceStatus,
  NotificationRecord,
  RequestRecord,
} from './records.js';
