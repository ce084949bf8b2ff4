import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Sources read at scrape time (queue depths, flow-control state). */
export interface MetricSources {
  queueCounts?: () => Promise<Record<string, Record<string, number>>>;
  endpoints?: () => Promise<
    {
      endpointName: string;
      inFlight: number;
      effectiveRate: number;
      waitingForSlot: number;
      waitingForRate: number;
    }[]
  >;
}

/**
 * Every Prometheus metric smad exports, on one registry per process. Counters are counted
 * where the event happens; gauges about shared state (queue depth, in flight) are read
 * from Redis when scraped, so any process answers for the whole deployment.
 */
export class SmadMetrics {
  readonly registry = new Registry();
  readonly jobs: Counter<'outcome'>;
  readonly apiCalls: Counter<'endpoint' | 'outcome'>;
  readonly throttles: Counter<'endpoint'>;
  readonly notifications: Counter<'outcome'>;
  readonly endToEnd: Histogram<'outcome'>;
  readonly webhookLatency: Histogram<'type'>;
  readonly webhookAttempts: Counter<'outcome'>;
  readonly webhookDeadLettered: Counter<'reason'>;
  private sources: MetricSources = {};

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'smad_' });
    this.jobs = new Counter({
      name: 'smad_inferences_total',
      help: 'Inferences that reached a final status, by outcome (completed, failed, expired, rejected, dispatch_failed)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.apiCalls = new Counter({
      name: 'smad_api_calls_total',
      help: 'InvokeEndpointAsync calls, by endpoint and outcome (accepted, or the error class)',
      labelNames: ['endpoint', 'outcome'],
      registers: [this.registry],
    });
    this.throttles = new Counter({
      name: 'smad_throttles_total',
      help: 'Throttling and 503 answers, by endpoint',
      labelNames: ['endpoint'],
      registers: [this.registry],
    });
    this.notifications = new Counter({
      name: 'smad_notifications_total',
      help: 'Completion messages handled, by outcome (resolved, duplicate, unknown, malformed)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.endToEnd = new Histogram({
      name: 'smad_end_to_end_seconds',
      help: 'From enqueue to the inference reaching its final status',
      labelNames: ['outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600],
      registers: [this.registry],
    });
    this.webhookLatency = new Histogram({
      name: 'smad_webhook_latency_seconds',
      help: 'From resolution to the successful webhook delivery',
      labelNames: ['type'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600, 36000],
      registers: [this.registry],
    });
    this.webhookAttempts = new Counter({
      name: 'smad_webhook_attempts_total',
      help: 'Webhook delivery attempts, by outcome (delivered, failed, refused, gone)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.webhookDeadLettered = new Counter({
      name: 'smad_webhook_dead_lettered_total',
      help: 'Webhook deliveries given up on and kept for replay',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    const self = this;
    new Gauge({
      name: 'smad_queue_jobs',
      help: 'Jobs per queue and state (waiting, delayed, active, failed, completed, prioritized)',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        const counts = (await self.sources.queueCounts?.()) ?? {};
        for (const [queue, states] of Object.entries(counts)) {
          for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
        }
      },
    });
    const endpointGauge = (
      name: string,
      help: string,
      pick: (e: Awaited<ReturnType<NonNullable<MetricSources['endpoints']>>>[number]) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['endpoint'],
        registers: [this.registry],
        async collect() {
          for (const e of (await self.sources.endpoints?.()) ?? [])
            this.set({ endpoint: e.endpointName }, pick(e));
        },
      });
    endpointGauge(
      'smad_endpoint_in_flight',
      'Inferences submitted and not yet resolved, per endpoint',
      (e) => e.inFlight,
    );
    endpointGauge(
      'smad_endpoint_effective_rate',
      'Calls per second allowed now (after adaptive throttling), per endpoint',
      (e) => e.effectiveRate,
    );
    endpointGauge(
      'smad_endpoint_waiting_for_slot',
      'Jobs waiting for an in-flight slot, per endpoint',
      (e) => e.waitingForSlot,
    );
    endpointGauge(
      'smad_endpoint_waiting_for_rate',
      'Jobs holding a rate reservation, per endpoint',
      (e) => e.waitingForRate,
    );
  }

  /** Wires the scrape-time sources (the runtime calls this once its queues exist). */
  setSources(sources: MetricSources): void {
    this.sources = sources;
  }

  async render(): Promise<string> {
    return this.registry.metrics();
  }
}
