/**
 * The SageMaker async emulator: accepts InvokeEndpointAsync calls (through `server.ts`),
 * queues them per endpoint, runs the model, writes the output or failure object to S3
 * and publishes the notification to SNS, with fault knobs on every step. Everything it
 * did is kept for tests: `requests`, `inferences`, `notifications`, `stats()`, events.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { type AwsSettings, createS3Client, createSnsClient } from '../aws/clients.js';
import { INVOCATION_TIMEOUT_SECONDS, TTL_SECONDS } from '../contract/api-constraints.js';
import type { Logger } from '../observability/logger.js';
import {
  DEFAULT_FAIL_REASON,
  type EmulatorConfig,
  type EndpointConfig,
  type EndpointInput,
  parseEmulatorConfig,
} from './config.js';
import { EndpointQueue } from './endpoint-queue.js';
import {
  type AwsErrorAnswer,
  endpointNotFound,
  internalFailure,
  serviceUnavailable,
  throttling,
  validationError,
} from './errors.js';
import { HttpClient } from './http-client.js';
import { type FailNextOptions, FaultPlan, type ForcedStatus, KnobSet, type Knobs } from './knobs.js';
import { failureLocation, inlineInputLocation, outputLocation } from './locations.js';
import { createModel, type Model, type ModelOutcome, type NotificationDirective } from './models/index.js';
import {
  buildErrorNotification,
  buildSuccessNotification,
  type NotificationFacts,
  NotificationPublisher,
  type SageMakerNotification,
} from './notifications.js';
import { ObjectStore } from './object-store.js';
import { createRandom, type Random, randomSeed, roll } from './random.js';
import type {
  EmulatorEvents,
  EmulatorStats,
  EndpointStats,
  InferenceRecord,
  NotificationRecord,
  RequestRecord,
} from './records.js';
import { buildServer } from './server.js';
import {
  type InvokeParams,
  type InvokeRequest,
  parseInvokeRequest,
  validationMessage,
} from './validate-request.js';

export const DEFAULT_ACCOUNT_ID = '123456789012';
export const EXPIRED_REASON = 'Request expired: RequestTTLSeconds elapsed before the request was processed.';

export function invocationTimeoutReason(seconds: number): string {
  return `ModelError: Invocation timed out after ${seconds} seconds.`;
}

export interface EmulatorOptions {
  /** The endpoints it serves (see EndpointInput; checked like a config file). */
  endpoints: EndpointInput[];
  /** Global knobs (defaults: all off, expiredNotification "error", timeScale 1). */
  knobs?: Partial<Knobs>;
  /** Where S3 and SNS are (the sagemakerRuntime endpoint is not used). */
  aws: AwsSettings;
  /** Clients to use instead of creating them from `aws` (the emulator then leaves them open). */
  s3?: S3Client;
  sns?: SNSClient;
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** `awsRegion` in notifications (default: aws.region, else us-east-1). */
  region?: string;
  /** Named in "Endpoint X of account N not found." (default 123456789012). */
  accountId?: string;
  /** PRNG seed for the ratio knobs (default: random). */
  seed?: number;
  /** pino logger (default: silent). CustomAttributes are never logged. */
  logger?: Logger;
  /** How many requests, inferences and notifications are kept for inspection (default 10,000 each). */
  maxRecords?: number;
}

/** The answer the HTTP layer sends. */
export interface InvokeAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

interface Counters {
  received: number;
  accepted: number;
  completed: number;
  failed: number;
  expired: number;
}

interface Job {
  record: InferenceRecord;
  endpoint: EndpointRuntime;
  params: InvokeParams;
  body?: Buffer;
  invocationTimeoutSeconds: number;
  /** The inline body being stored at record.inputLocation. */
  inputStored?: Promise<void>;
}

interface EndpointRuntime {
  config: EndpointConfig;
  model: Model;
  queue: EndpointQueue<Job>;
  counters: Counters;
}

function zeroCounters(): Counters {
  return { received: 0, accepted: 0, completed: 0, failed: 0, expired: 0 };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class SageMakerEmulator extends EventEmitter<EmulatorEvents> {
  readonly config: EmulatorConfig;
  readonly region: string;
  readonly accountId: string;
  private readonly endpoints = new Map<string, EndpointRuntime>();
  private readonly knobSet: KnobSet;
  private readonly faults = new FaultPlan();
  private readonly seed: number;
  private random: Random;
  private readonly logger: Logger;
  private readonly maxRecords: number;
  private readonly http = new HttpClient();
  private readonly store: ObjectStore;
  private readonly publisher: NotificationPublisher;
  private readonly ownedClients: Array<{ destroy(): void }> = [];
  private readonly stopController = new AbortController();
  private readonly running = new Set<AbortController>();
  private readonly pending = new Set<Promise<void>>();
  private server: FastifyInstance | undefined;
  private stopping: Promise<void> | undefined;
  private seq = 0;

  private readonly requestLog: RequestRecord[] = [];
  private readonly inferenceLog: InferenceRecord[] = [];
  private readonly inferenceById = new Map<string, InferenceRecord>();
  private readonly notificationLog: NotificationRecord[] = [];
  private totals = {
    rejected: 0,
    notificationsPublished: 0,
    notificationsDropped: 0,
    notificationFailures: 0,
  };
  private unknownEndpointCalls = 0;
  private addressValue = '';

  private constructor(options: EmulatorOptions) {
    super();
    const raw: Record<string, unknown> = { endpoints: options.endpoints, knobs: options.knobs ?? {} };
    if (options.region !== undefined) raw.region = options.region;
    if (options.accountId !== undefined) raw.accountId = options.accountId;
    if (options.seed !== undefined) raw.seed = options.seed;
    this.config = parseEmulatorConfig(raw);
    this.region = this.config.region ?? options.aws.region ?? 'us-east-1';
    this.accountId = this.config.accountId ?? DEFAULT_ACCOUNT_ID;
    this.seed = this.config.seed ?? randomSeed();
    this.random = createRandom(this.seed);
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'emulator' });
    this.maxRecords = options.maxRecords ?? 10_000;
    this.knobSet = new KnobSet(
      this.config.knobs,
      new Map(this.config.endpoints.map((e) => [e.name, e.knobs] as const)),
    );
    let s3 = options.s3;
    if (!s3) {
      s3 = createS3Client(options.aws);
      this.ownedClients.push(s3);
    }
    let sns = options.sns;
    if (!sns) {
      sns = createSnsClient(options.aws);
      this.ownedClients.push(sns);
    }
    this.store = new ObjectStore(s3, this.http);
    this.publisher = new NotificationPublisher(sns);
    for (const config of this.config.endpoints) {
      const runtime: EndpointRuntime = {
        config,
        model: createModel(config.model),
        counters: zeroCounters(),
        queue: new EndpointQueue<Job>({
          concurrency: config.instances * config.maxConcurrentInvocationsPerInstance,
          run: (job) => this.run(job),
          onExpire: (job) => this.track(this.expire(job)),
          onStart: (job) => this.started(job),
        }),
      };
      this.endpoints.set(config.name, runtime);
    }
  }

  /**
   * Checks the options (throws EmulatorConfigError naming every problem), waits for every
   * model container to answer `GET /ping` with 200, and starts serving.
   */
  static async start(options: EmulatorOptions): Promise<SageMakerEmulator> {
    const emulator = new SageMakerEmulator(options);
    try {
      await emulator.listen(options.host ?? '127.0.0.1', options.port ?? 0);
    } catch (err) {
      await emulator.stop();
      throw err;
    }
    return emulator;
  }

  private async listen(host: string, port: number): Promise<void> {
    const signal = this.stopController.signal;
    await Promise.all([...this.endpoints.values()].map((e) => e.model.ready(signal)));
    this.server = buildServer(this);
    await this.server.listen({ host, port });
    const address = this.server.server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the emulator has no address');
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.addressValue = `http://${shownHost}:${address.port}`;
    this.logger.info(
      { address: this.addressValue, endpoints: [...this.endpoints.keys()], seed: this.seed },
      'SageMaker async emulator listening',
    );
  }

  /** `http://host:port`: the SageMaker Runtime endpoint URL for the SDK. */
  get address(): string {
    return this.addressValue;
  }

  get port(): number {
    return Number(new URL(this.addressValue).port);
  }

  get endpointNames(): string[] {
    return [...this.endpoints.keys()];
  }

  /** The PRNG seed in use (reset() restarts the sequence). */
  get randomSeed(): number {
    return this.seed;
  }

  /** Every call received, oldest first (the last `maxRecords`). */
  get requests(): readonly RequestRecord[] {
    return this.requestLog;
  }

  /** Every accepted request and its state, oldest first. */
  get inferences(): readonly InferenceRecord[] {
    return this.inferenceLog;
  }

  /** Every notification published, oldest first. */
  get notifications(): readonly NotificationRecord[] {
    return this.notificationLog;
  }

  inference(inferenceId: string): InferenceRecord | undefined {
    return this.inferenceById.get(inferenceId);
  }

  inFlight(endpointName: string): number {
    return this.endpoints.get(endpointName)?.queue.inFlight ?? 0;
  }

  queued(endpointName: string): number {
    return this.endpoints.get(endpointName)?.queue.queued ?? 0;
  }

  stats(): EmulatorStats {
    const endpoints: Record<string, EndpointStats> = {};
    const sum = zeroCounters();
    for (const [name, e] of this.endpoints) {
      endpoints[name] = {
        queued: e.queue.queued,
        inFlight: e.queue.inFlight,
        peakInFlight: e.queue.peakInFlight,
        slots: e.queue.slots,
        ...e.counters,
      };
      for (const key of Object.keys(sum) as Array<keyof Counters>) sum[key] += e.counters[key];
    }
    return {
      received: sum.received + this.unknownEndpointCalls,
      accepted: sum.accepted,
      rejected: this.totals.rejected,
      completed: sum.completed,
      failed: sum.failed,
      expired: sum.expired,
      notificationsPublished: this.totals.notificationsPublished,
      notificationsDropped: this.totals.notificationsDropped,
      notificationFailures: this.totals.notificationFailures,
      endpoints,
    };
  }

  /** The knobs in force for an endpoint (or the global ones). */
  knobs(endpointName?: string): Knobs {
    return this.knobSet.effective(endpointName);
  }

  knobSnapshot(): ReturnType<KnobSet['snapshot']> {
    return this.knobSet.snapshot();
  }

  /** Changes knobs at run time, globally or for one endpoint; throws KnobError on bad values. */
  setKnobs(knobs: Partial<Knobs>, endpointName?: string): void {
    if (endpointName !== undefined && !this.endpoints.has(endpointName))
      throw new Error(`no endpoint named ${endpointName}`);
    this.knobSet.set(knobs, endpointName);
    this.logger.info({ knobs, endpointName }, 'knobs changed');
  }

  /** The next `count` calls (to `endpoint`, or any) are answered with `status`. */
  failNext(options: FailNextOptions): void {
    this.faults.failNext(options);
  }

  /**
   * Forgets the records, counters and forced failures, restores the starting knobs and
   * restarts the PRNG sequence. Requests already queued or running carry on.
   */
  reset(): void {
    this.requestLog.length = 0;
    this.inferenceLog.length = 0;
    this.inferenceById.clear();
    this.notificationLog.length = 0;
    this.totals = {
      rejected: 0,
      notificationsPublished: 0,
      notificationsDropped: 0,
      notificationFailures: 0,
    };
    this.unknownEndpointCalls = 0;
    for (const e of this.endpoints.values()) {
      e.counters = zeroCounters();
      e.queue.resetPeak();
    }
    this.faults.clear();
    this.knobSet.reset();
    this.random = createRandom(this.seed);
  }

  /** Resolves when no request is queued or running and no notification is pending. */
  async whenIdle(): Promise<void> {
    for (;;) {
      await Promise.all([...this.endpoints.values()].map((e) => e.queue.whenIdle()));
      if (this.pending.size === 0) {
        const busy = [...this.endpoints.values()].some((e) => e.queue.queued + e.queue.inFlight > 0);
        if (!busy) return;
        continue;
      }
      await Promise.allSettled([...this.pending]);
    }
  }

  /** Stops serving, drops queued requests, aborts running ones, and closes every socket and timer. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.stopController.abort();
    const server = this.server;
    this.server = undefined;
    if (server) await server.close();
    for (const e of this.endpoints.values()) e.queue.clear();
    for (const controller of this.running) controller.abort();
    await Promise.all([...this.endpoints.values()].map((e) => e.queue.whenIdle()));
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    for (const e of this.endpoints.values()) e.model.close();
    this.http.close();
    for (const client of this.ownedClients) client.destroy();
    this.logger.info('SageMaker async emulator stopped');
  }

  private get isStopping(): boolean {
    return this.stopController.signal.aborted;
  }

  // ---- answering calls ----------------------------------------------------------------

  /** Answers one InvokeEndpointAsync call (the HTTP layer's entry point). */
  handleInvoke(request: InvokeRequest): InvokeAnswer {
    const receivedAt = Date.now();
    const endpoint = this.endpoints.get(request.endpointName);
    if (endpoint) endpoint.counters.received += 1;
    else this.unknownEndpointCalls += 1;
    const record: RequestRecord = {
      seq: ++this.seq,
      receivedAt,
      endpointName: request.endpointName,
      params: { endpointName: request.endpointName },
      bodyBytes: request.body?.length ?? 0,
      status: 0,
    };

    // Parameters are recorded even for injected faults, so tests can see what was sent
    // (e.g. the same InferenceId on every retry).
    const parsed = parseInvokeRequest(request);
    record.params = parsed.params;
    const injected = this.injectedFault(request.endpointName, endpoint !== undefined);
    if (injected) return this.reject(record, injected, true);

    if (!parsed.ok) return this.reject(record, validationError(validationMessage(parsed.problems)));
    if (!endpoint) return this.reject(record, endpointNotFound(request.endpointName, this.accountId));

    return this.accept(record, endpoint, parsed.params, parsed.body);
  }

  /** A 400 for a payload too large for the HTTP layer to read. */
  rejectOversizedBody(endpointName: string, bytes: number): InvokeAnswer {
    const record: RequestRecord = {
      seq: ++this.seq,
      receivedAt: Date.now(),
      endpointName,
      params: { endpointName },
      bodyBytes: bytes,
      status: 0,
    };
    return this.reject(
      record,
      validationError(
        validationMessage([
          `Value at 'body' failed to satisfy constraint: Member must be at most 128000 bytes (was ${bytes})`,
        ]),
      ),
    );
  }

  private injectedFault(endpointName: string, known: boolean): AwsErrorAnswer | undefined {
    const forced: ForcedStatus | undefined = this.faults.take(endpointName);
    const knobs = this.knobSet.effective(known ? endpointName : undefined);
    let status = forced;
    if (status === undefined) {
      if (roll(this.random, knobs.throttleRatio)) status = 'throttle';
      else if (roll(this.random, knobs.unavailableRatio)) status = 503;
      else if (roll(this.random, knobs.internalFailureRatio)) status = 500;
    }
    if (status === 'throttle') return throttling();
    if (status === 503) return serviceUnavailable();
    if (status === 500) return internalFailure();
    return undefined;
  }

  private reject(record: RequestRecord, error: AwsErrorAnswer, injected = false): InvokeAnswer {
    record.status = error.statusCode;
    record.error = { type: error.type, message: error.message };
    if (injected) record.injected = true;
    this.totals.rejected += 1;
    this.remember(this.requestLog, record);
    this.logger.debug(
      {
        endpointName: record.endpointName,
        status: error.statusCode,
        errorType: error.type,
        error: error.message,
      },
      'InvokeEndpointAsync rejected',
    );
    this.emit('request', record);
    return { statusCode: error.statusCode, headers: error.headers, body: error.body };
  }

  private accept(
    record: RequestRecord,
    endpoint: EndpointRuntime,
    params: InvokeParams,
    body?: Buffer,
  ): InvokeAnswer {
    const config = endpoint.config;
    const objectId = randomUUID();
    const inferenceId = params.inferenceId ?? randomUUID();
    const output = outputLocation(config.s3OutputPath, objectId, params);
    const failure = config.s3FailurePath
      ? failureLocation(config.s3FailurePath, objectId, params)
      : undefined;
    const inputLocation = params.inputLocation ?? inlineInputLocation(config.inlineInputPath, objectId);
    const inference: InferenceRecord = {
      inferenceId,
      endpointName: config.name,
      status: 'queued',
      receivedAt: record.receivedAt,
      inputLocation,
      inlineBody: body !== undefined,
      outputLocation: output,
      notificationsPublished: 0,
      notificationDropped: false,
    };
    if (failure) inference.failureLocation = failure;
    const job: Job = {
      record: inference,
      endpoint,
      params,
      invocationTimeoutSeconds: params.invocationTimeoutSeconds ?? INVOCATION_TIMEOUT_SECONDS.default,
    };
    if (body) {
      job.body = body;
      job.inputStored = this.store
        .write(inputLocation, body, params.contentType ?? 'application/octet-stream')
        .catch((err) => {
          this.logger.warn(
            { inferenceId, inputLocation, error: errorText(err) },
            'could not store the inline body',
          );
        });
    }
    this.remember(this.inferenceLog, inference, (old) => {
      if (this.inferenceById.get(old.inferenceId) === old) this.inferenceById.delete(old.inferenceId);
    });
    this.inferenceById.set(inferenceId, inference);
    endpoint.counters.accepted += 1;

    record.status = 202;
    record.inferenceId = inferenceId;
    record.outputLocation = output;
    if (failure) record.failureLocation = failure;
    this.remember(this.requestLog, record);
    this.logger.debug(
      { endpointName: config.name, inferenceId, outputLocation: output },
      'InvokeEndpointAsync accepted',
    );
    this.emit('request', record);

    const knobs = this.knobSet.effective(config.name);
    const ttlSeconds = params.requestTTLSeconds ?? TTL_SECONDS.default;
    endpoint.queue.push(job, ttlSeconds * 1000 * knobs.timeScale);

    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-amzn-RequestId': randomUUID(),
      'X-Amzn-SageMaker-OutputLocation': output,
    };
    if (failure) headers['X-Amzn-SageMaker-FailureLocation'] = failure;
    return { statusCode: 202, headers, body: JSON.stringify({ InferenceId: inferenceId }) };
  }

  private remember<T>(log: T[], item: T, onEvict?: (old: T) => void): void {
    log.push(item);
    if (log.length > this.maxRecords) {
      const evicted = log.splice(0, Math.max(1, Math.floor(this.maxRecords / 10)));
      if (onEvict) for (const old of evicted) onEvict(old);
    }
  }

  // ---- processing -----------------------------------------------------------------------

  private started(job: Job): void {
    job.record.status = 'running';
    job.record.startedAt = Date.now();
    this.emit('started', job.record);
  }

  private async run(job: Job): Promise<void> {
    const { record, endpoint } = job;
    const knobs = this.knobSet.effective(endpoint.config.name);
    const outcome = await this.invokeModel(job, knobs);
    if (!outcome || this.isStopping) return;

    let final: ModelOutcome = outcome;
    await job.inputStored;
    if (final.ok) {
      record.responseContentType = final.contentType;
      try {
        await this.store.write(record.outputLocation, final.body, final.contentType);
        record.objectWrittenAt = Date.now();
      } catch (err) {
        if (this.isStopping) return;
        this.logger.warn(
          { inferenceId: record.inferenceId, error: errorText(err) },
          'could not write the output',
        );
        final = {
          ok: false,
          failureReason: `ClientError: Failed to write the output to ${record.outputLocation}: ${errorText(err)}`,
        };
        delete record.responseContentType;
      }
    }
    if (!final.ok) await this.writeFailureObject(record, final.failureReason);
    if (this.isStopping) return;
    // The slot is free from here: the notification (perhaps delayed) goes on by itself.
    this.track(this.finish(job, final, knobs));
  }

  /** Reads the input and runs the model under the invocation timeout; undefined when stopping. */
  private async invokeModel(job: Job, knobs: Knobs): Promise<ModelOutcome | undefined> {
    const { record, endpoint, params } = job;
    const controller = new AbortController();
    this.running.add(controller);
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        controller.abort();
      },
      job.invocationTimeoutSeconds * 1000 * knobs.timeScale,
    );
    const signal = controller.signal;
    try {
      let input = job.body;
      if (!input) {
        try {
          input = await this.store.read(record.inputLocation, signal);
        } catch (err) {
          if (signal.aborted) throw err;
          return {
            ok: false,
            failureReason: `ClientError: Failed to download the input from ${record.inputLocation}: ${errorText(err)}`,
          };
        }
      }
      if (knobs.latencyMs > 0) await delay(knobs.latencyMs, undefined, { signal });
      const modelInput: Parameters<Model['invoke']>[0] = {
        body: input,
        contentType: params.contentType ?? 'application/octet-stream',
      };
      if (params.accept !== undefined) modelInput.accept = params.accept;
      if (params.customAttributes !== undefined) modelInput.customAttributes = params.customAttributes;
      const outcome = await endpoint.model.invoke(modelInput, signal);
      if (outcome.ok && roll(this.random, knobs.failureRatio)) {
        const failed: ModelOutcome = {
          ok: false,
          failureReason: DEFAULT_FAIL_REASON,
          body: Buffer.from(DEFAULT_FAIL_REASON, 'utf8'),
        };
        if (outcome.notification) failed.notification = outcome.notification;
        return failed;
      }
      return outcome;
    } catch (err) {
      if (this.isStopping) return undefined;
      if (timedOut)
        return { ok: false, failureReason: invocationTimeoutReason(job.invocationTimeoutSeconds) };
      return { ok: false, failureReason: `ClientError: ${errorText(err)}` };
    } finally {
      clearTimeout(timer);
      this.running.delete(controller);
    }
  }

  private async writeFailureObject(record: InferenceRecord, failureReason: string): Promise<void> {
    if (!record.failureLocation) return;
    try {
      await this.store.write(
        record.failureLocation,
        Buffer.from(failureReason, 'utf8'),
        'text/plain; charset=utf-8',
      );
      record.objectWrittenAt = Date.now();
    } catch (err) {
      if (!this.isStopping)
        this.logger.warn(
          { inferenceId: record.inferenceId, error: errorText(err) },
          'could not write the failure object',
        );
    }
  }

  private facts(job: Job, finishedAt: number): NotificationFacts {
    const facts: NotificationFacts = {
      region: this.region,
      receivedAt: job.record.receivedAt,
      finishedAt,
      endpointName: job.endpoint.config.name,
      inferenceId: job.record.inferenceId,
      contentType: job.params.contentType ?? 'application/octet-stream',
      inputLocation: job.record.inputLocation,
    };
    if (job.params.accept !== undefined) facts.accept = job.params.accept;
    if (job.params.customAttributes !== undefined) facts.customAttributes = job.params.customAttributes;
    return facts;
  }

  private async finish(job: Job, outcome: ModelOutcome, knobs: Knobs): Promise<void> {
    const { record, endpoint } = job;
    const config = endpoint.config;
    const facts = this.facts(job, Date.now());
    if (outcome.ok) {
      const embed = config.includeInferenceResponseIn.includes('SUCCESS_NOTIFICATION_TOPIC')
        ? outcome.body
        : undefined;
      const message = buildSuccessNotification(facts, {
        contentType: outcome.contentType,
        outputLocation: record.outputLocation,
        ...(embed ? { embed } : {}),
      });
      await this.deliver(job, 'success', config.successTopicArn, message, knobs, outcome.notification);
    } else {
      const embed = config.includeInferenceResponseIn.includes('ERROR_NOTIFICATION_TOPIC')
        ? outcome.body
        : undefined;
      const message = buildErrorNotification(facts, {
        failureReason: outcome.failureReason,
        ...(embed ? { embed } : {}),
      });
      record.failureReason = outcome.failureReason;
      await this.deliver(job, 'error', config.errorTopicArn, message, knobs, outcome.notification);
    }
    if (this.isStopping) return;
    record.finishedAt = Date.now();
    if (outcome.ok) {
      record.status = 'completed';
      endpoint.counters.completed += 1;
      this.logger.debug(
        { inferenceId: record.inferenceId, endpointName: config.name },
        'inference completed',
      );
      this.emit('completed', record);
    } else {
      record.status = 'failed';
      endpoint.counters.failed += 1;
      this.logger.debug(
        { inferenceId: record.inferenceId, endpointName: config.name, failureReason: outcome.failureReason },
        'inference failed',
      );
      this.emit('failed', record);
    }
  }

  private async expire(job: Job): Promise<void> {
    const { record, endpoint } = job;
    const knobs = this.knobSet.effective(endpoint.config.name);
    record.status = 'expired';
    if (knobs.expiredNotification === 'error') {
      record.failureReason = EXPIRED_REASON;
      await job.inputStored;
      await this.writeFailureObject(record, EXPIRED_REASON);
      const message = buildErrorNotification(this.facts(job, Date.now()), { failureReason: EXPIRED_REASON });
      await this.deliver(job, 'error', endpoint.config.errorTopicArn, message, knobs, undefined);
    }
    if (this.isStopping) return;
    record.finishedAt = Date.now();
    endpoint.counters.expired += 1;
    this.logger.debug(
      { inferenceId: record.inferenceId, endpointName: endpoint.config.name },
      'request expired',
    );
    this.emit('expired', record);
  }

  /** Publishes (or drops, duplicates, delays) one notification as the knobs say. */
  private async deliver(
    job: Job,
    kind: 'success' | 'error',
    topicArn: string | undefined,
    message: SageMakerNotification,
    knobs: Knobs,
    directive: NotificationDirective | undefined,
  ): Promise<void> {
    if (!topicArn) return;
    const { record } = job;
    if (directive?.drop || roll(this.random, knobs.dropNotificationRatio)) {
      record.notificationDropped = true;
      this.totals.notificationsDropped += 1;
      return;
    }
    const copies = directive?.duplicate || roll(this.random, knobs.duplicateNotificationRatio) ? 2 : 1;
    if (knobs.notificationDelayMs > 0) {
      try {
        await delay(knobs.notificationDelayMs, undefined, { signal: this.stopController.signal });
      } catch {
        return;
      }
    }
    for (let copy = 1; copy <= copies; copy++) {
      if (this.isStopping) return;
      try {
        const messageId = await this.publisher.publish(topicArn, message);
        const published: NotificationRecord = {
          publishedAt: Date.now(),
          topicArn,
          kind,
          inferenceId: record.inferenceId,
          endpointName: record.endpointName,
          copy,
          message,
        };
        if (messageId) published.messageId = messageId;
        record.notificationsPublished += 1;
        this.totals.notificationsPublished += 1;
        this.remember(this.notificationLog, published);
        this.emit('notification', published);
      } catch (err) {
        if (this.isStopping) return;
        this.totals.notificationFailures += 1;
        this.logger.warn(
          { inferenceId: record.inferenceId, topicArn, error: errorText(err) },
          'could not publish the notification',
        );
      }
    }
  }

  private track(task: Promise<void>): void {
    const tracked = task.catch((err) => {
      this.logger.error({ error: errorText(err) }, 'emulator task failed');
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }
}
