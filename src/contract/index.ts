export * from './api-constraints.js';
export * from './job.js';
export * from './status.js';
export * from './validate-job.js';
export * from './webhook-event.js';
