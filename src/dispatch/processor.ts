import type { S3Client } from '@aws-sdk/client-s3';
import { InvokeEndpointAsyncCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { v7 as uuidv7 } from 'uuid';
import { classifyAwsError } from '../aws/classify-error.js';
import { checkS3Outcome, type S3Outcome } from '../completions/s3-outcome.js';
import { policyFor } from '../config/endpoint-policies.js';
import type { SmadConfig } from '../config/load.js';
import { checkInferenceId, MAX_BODY_BYTES } from '../contract/api-constraints.js';
import type { ValidJob } from '../contract/job.js';
import { isFinalStatus } from '../contract/status.js';
import { validateJob } from '../contract/validate-job.js';
import type { Capacity, CapacityGrant } from '../flow/capacity.js';
import type { Ledger } from '../ledger/ledger.js';
import type { LedgerPrivateFields, LedgerRecord } from '../ledger/record.js';
import { inferenceLogger, type Logger } from '../observability/logger.js';
import type { SmadMetrics } from '../observability/metrics.js';
import { backoffDelayMs } from './backoff.js';
import { inferenceDeadline, nextPollAt } from './deadline.js';
import { type DispatchResult, resultOf } from './job-result.js';
import { stagePayload } from './stage-payload.js';

export interface DispatchHooks {
  /** Test hook: runs right after SageMaker accepted a call, before the ledger records it. */
  afterInvoke?: (inferenceId: string) => void | Promise<void>;
}

export interface DispatchDeps {
  config: SmadConfig;
  ledger: Ledger;
  capacity: Capacity;
  s3: S3Client;
  /** A SageMaker Runtime client for the endpoint's region ('' = the default chain's). */
  sagemaker(region: string): SageMakerRuntimeClient;
  logger: Logger;
  hooks?: DispatchHooks;
  metrics?: SmadMetrics;
  now?: () => number;
}

type FullRecord = LedgerRecord & LedgerPrivateFields;

/**
 * What a parked pickup throws: BullMQ only checks its class, so one instance serves every
 * park (an Error's stack trace is costly to capture on the hot path).
 */
const PARKED = new DelayedError('parked');

/** Whether an inline body goes to S3 first (too large for Body, or staging forced). */
function needsStaging(valid: ValidJob, forceStaging: boolean): boolean {
  return valid.bodyBytes !== undefined && (valid.bodyBytes.length > MAX_BODY_BYTES || forceStaging);
}

/** Why a job failed, as BullMQ stores it (the job's failedReason). */
function failureMessage(record: Pick<LedgerRecord, 'status' | 'failureReason'>): string {
  return `${record.status}: ${record.failureReason ?? 'no reason recorded'}`;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * One pickup of an inference job. The BullMQ job's state follows the inference: a pickup
 * claims the ledger record (write-ahead), then either dispatches (status `submitting`),
 * checks a parked inference (`submitted`: promoted by the completion consumer, or its
 * deadline or S3 poll came), or finishes the job from a final record. Waiting never holds
 * a worker slot or a lock: the job is parked in BullMQ's delayed set (but for a few jobs per
 * process waiting out a rate slot due within a second, see Capacity.waitLocally).
 */
export class DispatchProcessor {
  private readonly now: () => number;

  constructor(private readonly deps: DispatchDeps) {
    this.now = deps.now ?? Date.now;
  }

  async process(job: Job, token: string | undefined): Promise<DispatchResult> {
    const { config, ledger } = this.deps;
    const raw: unknown = job.data;
    const data = (typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<
      string,
      unknown
    >;
    const validation = validateJob(raw, {
      maxInlineBytes: config.dispatch.maxInlineBytes,
      stagingAvailable: config.staging.s3Uri !== '',
    });
    const endpointName = str(data.endpointName) ?? '';
    const webhook = (data.webhook ?? {}) as Record<string, unknown>;
    const jobId = job.id ?? '';

    if (!validation.ok) {
      const reason = `invalid job: ${validation.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`;
      const supplied = str(data.inferenceId);
      const badFields = new Set(validation.problems.map((p) => p.field.split('.')[0]));
      const webhookUrl = badFields.has('webhook')
        ? config.webhooks.defaultUrl
        : (str(webhook.url) ?? config.webhooks.defaultUrl);
      await ledger.claim({
        jobId,
        jobTimestamp: job.timestamp,
        suppliedInferenceId: supplied && checkInferenceId(supplied) === undefined ? supplied : undefined,
        newInferenceId: uuidv7(),
        endpointName: endpointName.slice(0, 63),
        initialStatus: 'rejected',
        failureReason: reason,
        metadata: badFields.has('metadata') ? null : ((data.metadata as Record<string, unknown>) ?? null),
        webhookUrl,
        webhookSecret: badFields.has('webhook') ? undefined : str(webhook.secret),
        inputLocation: badFields.has('inputLocation') ? undefined : str(data.inputLocation),
      });
      throw new UnrecoverableError(`rejected: ${reason}`);
    }

    const valid = validation.job;
    // The inference's deadline if its call went now: its in-flight slot's first lease.
    const leaseUntil = inferenceDeadline(
      this.now(),
      valid.requestTTLSeconds,
      valid.invocationTimeoutSeconds,
      config.expiry.graceSeconds,
      config.expiry.timeScale,
    );
    // Flow control decides in the claim's round trip.
    const plan = this.deps.capacity.planAcquire(valid.endpointName, leaseUntil, jobId);
    const claim = await ledger.claim(
      {
        jobId,
        jobTimestamp: job.timestamp,
        suppliedInferenceId: valid.inferenceId,
        newInferenceId: uuidv7(),
        endpointName: valid.endpointName,
        initialStatus: 'submitting',
        metadata: valid.metadata ?? null,
        webhookUrl: valid.webhook?.url ?? config.webhooks.defaultUrl,
        webhookSecret: valid.webhook?.secret,
        inputLocation: valid.inputLocation,
      },
      undefined,
      plan,
    );
    if (claim.kind === 'duplicate') {
      throw new UnrecoverableError(
        `rejected: inferenceId "${claim.inferenceId}" is already used by another job (inferenceId must be unique)`,
      );
    }
    if (claim.status === 'submitting')
      return this.dispatch(job, token, jobId, valid, claim.inferenceId, leaseUntil, claim.grant);
    // The claim of a record past 'submitting' brings the record along (no second read).
    const record = claim.record ?? (await this.record(claim.inferenceId));
    const log = inferenceLogger(this.deps.logger, { inferenceId: claim.inferenceId, jobId });
    if (record.status === 'submitted') return this.checkParked(job, token, record, log);
    return this.finish(record);
  }

  private async record(inferenceId: string): Promise<FullRecord> {
    const record = await this.deps.ledger.get(inferenceId);
    if (!record) throw new Error(`ledger record ${inferenceId} vanished`);
    return record;
  }

  /** Ends the job from a final record: completed returns the result, the rest fail it. */
  private finish(record: FullRecord): DispatchResult {
    const enqueued = record.enqueuedAt ? Date.parse(record.enqueuedAt) : undefined;
    const resolved = record.resolvedAt ? Date.parse(record.resolvedAt) : undefined;
    if (enqueued !== undefined && resolved !== undefined)
      this.deps.metrics?.endToEnd.observe(
        { outcome: record.status },
        Math.max(0, resolved - enqueued) / 1000,
      );
    if (record.status === 'completed') return resultOf(record);
    throw new UnrecoverableError(failureMessage(record));
  }

  /** Parks the job until `untilMs` without holding a lock or spending an attempt. */
  private async park(job: Job, token: string | undefined, untilMs: number): Promise<never> {
    await job.moveToDelayed(Math.max(untilMs, this.now() + 1), token);
    throw PARKED;
  }

  private async dispatch(
    job: Job,
    token: string | undefined,
    /** The job's id, as the claim and the flow decisions know it. */
    jobId: string,
    valid: ValidJob,
    inferenceId: string,
    leaseUntil: number,
    claimed: CapacityGrant | undefined,
  ): Promise<DispatchResult> {
    const { config, ledger, capacity } = this.deps;
    const policy = policyFor(config.endpoints, valid.endpointName);
    const log = inferenceLogger(this.deps.logger, { inferenceId, jobId });

    let grant = claimed ?? (await capacity.acquire(valid.endpointName, inferenceId, leaseUntil, jobId));
    // A slot due shortly is waited for here (a bounded few jobs per process): parked, the job
    // would be woken behind every job already waiting for a worker.
    for (let i = 0; i < 3 && !grant.granted && (await capacity.waitLocally(jobId, grant)); i++)
      grant = await capacity.acquire(valid.endpointName, inferenceId, leaseUntil, jobId);
    if (!grant.granted) {
      log.debug({ reason: grant.reason, retryAtMs: grant.retryAtMs }, 'waiting for capacity');
      await job.moveToDelayed(Math.max(grant.retryAtMs, this.now() + 1), token);
      // Its turn may have come while it was still active (nobody could wake it then).
      if (await capacity.missedWake(valid.endpointName, jobId, grant)) await job.promote().catch(() => {});
      throw PARKED;
    }

    // A body too large for the call is staged now that the call will go: a job that waits
    // for capacity is woken several times, and would upload it at every pickup.
    let inputLocation = valid.inputLocation;
    let body: Buffer | undefined;
    if (valid.bodyBytes !== undefined) {
      if (needsStaging(valid, config.dispatch.forceStaging)) {
        try {
          inputLocation = await stagePayload(
            this.deps.s3,
            config.staging.s3Uri,
            inferenceId,
            valid.bodyBytes,
            valid.contentType,
          );
        } catch (err) {
          // No call will go: its capacity goes back (the pickup is retried with a backoff).
          await capacity.refused(valid.endpointName, inferenceId);
          throw err;
        }
      } else {
        body = valid.bodyBytes;
      }
    }

    let output: { OutputLocation?: string; FailureLocation?: string };
    try {
      output = await this.deps.sagemaker(policy.region).send(
        new InvokeEndpointAsyncCommand({
          EndpointName: valid.endpointName,
          ContentType: valid.contentType,
          Accept: valid.accept,
          CustomAttributes: valid.customAttributes,
          InferenceId: inferenceId,
          InputLocation: inputLocation,
          Body: body,
          RequestTTLSeconds: valid.requestTTLSeconds,
          InvocationTimeoutSeconds: valid.invocationTimeoutSeconds,
          Filename: valid.filename,
          S3OutputPathExtension: valid.s3OutputPathExtension,
        }),
      );
    } catch (err) {
      await capacity.refused(valid.endpointName, inferenceId);
      return this.onCallError(job, token, inferenceId, err, log);
    }
    this.deps.metrics?.apiCalls.inc({ endpoint: valid.endpointName, outcome: 'accepted' });
    await this.deps.hooks?.afterInvoke?.(inferenceId);

    const submittedAt = this.now();
    const deadline = inferenceDeadline(
      submittedAt,
      valid.requestTTLSeconds,
      valid.invocationTimeoutSeconds,
      config.expiry.graceSeconds,
      config.expiry.timeScale,
    );
    const locations = {
      outputLocation: output.OutputLocation,
      failureLocation: output.FailureLocation,
      inputLocation,
    };
    const wakeAt = policy.notifications
      ? deadline
      : nextPollAt(
          submittedAt,
          submittedAt,
          config.expiry.pollFirstSeconds,
          config.expiry.pollMaxSeconds,
          deadline,
          config.expiry.timeScale,
        );
    // The ledger write, the flow bookkeeping and the park go out together (one round trip):
    // - the lease renewal (ZADD XX) never adds back a slot a notification released first;
    // - a notification that resolves the record after the ledger write finds the job active
    //   or parked: the completion consumer wakes it either way (JobWaker.wakeResolved);
    // - one that resolved it before makes the write stale: the job, parked by then, is
    //   woken here.
    const fields = { set: { submittedAt, deadlineAt: deadline, ...locations }, fill: locations };
    const accept = capacity.planAccepted(valid.endpointName, inferenceId, deadline);
    const [advanced] = await Promise.all([
      ledger.advance(inferenceId, 'submitted', fields, submittedAt, accept),
      job.moveToDelayed(Math.max(wakeAt, this.now() + 1), token),
    ]);
    if (advanced.kind === 'stale' && isFinalStatus(advanced.current)) await job.promote().catch(() => {});
    else log.info({ endpointName: valid.endpointName, outputLocation: output.OutputLocation }, 'submitted');
    throw PARKED;
  }

  private async onCallError(
    job: Job,
    token: string | undefined,
    inferenceId: string,
    err: unknown,
    log: Logger,
  ): Promise<DispatchResult> {
    const { config, ledger, capacity } = this.deps;
    const failure = classifyAwsError(err);
    const endpointName = (job.data as { endpointName: string }).endpointName;
    this.deps.metrics?.apiCalls.inc({ endpoint: endpointName, outcome: failure.class });
    if (failure.slowDown) {
      this.deps.metrics?.throttles.inc({ endpoint: endpointName });
      await capacity.onSlowDown(endpointName);
    }
    const reason = `${failure.name}: ${failure.message}`;
    if (failure.retryable) {
      const attempts = await ledger.noteRetry(inferenceId, reason);
      if (attempts < 0) return this.finishOrPark(job, token, inferenceId);
      if (attempts < config.dispatch.maxAttempts) {
        const delay = backoffDelayMs(attempts, config.dispatch.backoffBaseMs, config.dispatch.backoffMaxMs);
        log.warn(
          { errorClass: failure.class, attempts, delayMs: delay, error: reason },
          'call failed; will retry',
        );
        return this.park(job, token, this.now() + delay);
      }
      log.error({ errorClass: failure.class, attempts }, 'call failed; attempts exhausted');
      await ledger.advance(inferenceId, 'dispatch_failed', {
        set: { failureReason: `${reason} (gave up after ${attempts} attempts)` },
      });
    } else {
      const to = failure.class === 'validation' ? 'rejected' : 'dispatch_failed';
      log.error({ errorClass: failure.class, error: reason }, 'call refused; not retried');
      await ledger.advance(inferenceId, to, { set: { failureReason: reason } });
    }
    return this.finishOrPark(job, token, inferenceId);
  }

  /** After a write that may have lost a race: finish from the final record, or keep waiting. */
  private async finishOrPark(
    job: Job,
    token: string | undefined,
    inferenceId: string,
  ): Promise<DispatchResult> {
    const record = await this.record(inferenceId);
    if (isFinalStatus(record.status)) return this.finish(record);
    return this.checkParked(job, token, record, this.deps.logger);
  }

  /**
   * A pickup of a submitted inference: promoted early (a spurious wake), its S3 poll came,
   * or its deadline passed. At the deadline (or a poll), S3 tells what happened.
   */
  private async checkParked(
    job: Job,
    token: string | undefined,
    record: FullRecord,
    log: Logger,
  ): Promise<DispatchResult> {
    const { config, ledger } = this.deps;
    const now = this.now();
    const deadline = record.deadlineAt ? Date.parse(record.deadlineAt) : now;
    const polling = !policyFor(config.endpoints, record.endpointName).notifications;
    if (now < deadline && !polling) return this.park(job, token, deadline);

    let outcome: S3Outcome;
    try {
      outcome = await checkS3Outcome(this.deps.s3, record.outputLocation, record.failureLocation);
    } catch (err) {
      // Before the deadline (a poll) the pickup's own backoff tries again; after it, S3 is
      // tried for a bounded time, then the inference expires naming why it could not be checked.
      if (now < deadline) throw err;
      return this.onFailedCheck(job, token, record, deadline, err, log);
    }
    if (outcome.kind === 'completed') {
      await ledger.advance(record.inferenceId, 'completed', {
        set: { responseContentType: outcome.contentType ?? '' },
      });
      log.info({ via: polling ? 's3-poll' : 's3-deadline-check' }, 'resolved from S3');
    } else if (outcome.kind === 'failed') {
      await ledger.advance(record.inferenceId, 'failed', { set: { failureReason: outcome.reason } });
      log.info({ via: polling ? 's3-poll' : 's3-deadline-check' }, 'resolved from S3');
    } else if (now >= deadline) {
      await ledger.advance(record.inferenceId, 'expired', {
        set: {
          failureReason: `no notification and no output or failure object in S3 by the deadline ${new Date(deadline).toISOString()}`,
        },
      });
      log.warn('expired');
    } else {
      const submittedAt = record.submittedAt ? Date.parse(record.submittedAt) : now;
      return this.park(
        job,
        token,
        nextPollAt(
          submittedAt,
          now,
          config.expiry.pollFirstSeconds,
          config.expiry.pollMaxSeconds,
          deadline,
          config.expiry.timeScale,
        ),
      );
    }
    return this.finish(await this.record(record.inferenceId));
  }

  /**
   * An S3 check after the deadline failed (not a 404: AccessDenied, which S3 answers for a
   * missing object without s3:ListBucket, or a bucket gone): tried again with a growing wait
   * until expiry.checkGiveUpSeconds past the deadline, then the inference expires with the
   * error as its reason, instead of waiting forever.
   */
  private async onFailedCheck(
    job: Job,
    token: string | undefined,
    record: FullRecord,
    deadline: number,
    err: unknown,
    log: Logger,
  ): Promise<DispatchResult> {
    const { config, ledger } = this.deps;
    const scale = config.expiry.timeScale;
    const now = this.now();
    const giveUpAt = deadline + config.expiry.checkGiveUpSeconds * 1000 * scale;
    const failure = classifyAwsError(err);
    const error = `${failure.name}: ${failure.message}`;
    if (now < giveUpAt) {
      const wait = Math.min(300_000 * scale, Math.max(5_000 * scale, (now - deadline) / 2));
      const retryAt = Math.min(giveUpAt, now + wait);
      log.warn(
        { error, retryAt: new Date(retryAt).toISOString() },
        'S3 check after the deadline failed; will try again',
      );
      return this.park(job, token, retryAt);
    }
    await ledger.advance(record.inferenceId, 'expired', {
      set: {
        failureReason: `no notification by the deadline ${new Date(deadline).toISOString()}, and S3 could not be checked for an output or failure object until ${new Date(giveUpAt).toISOString()} (${error}); S3 answers AccessDenied for a missing object to a caller without s3:ListBucket`,
      },
    });
    log.warn({ error }, 'expired: the S3 check kept failing');
    return this.finish(await this.record(record.inferenceId));
  }
}
