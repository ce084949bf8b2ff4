import type { EndpointInput } from '../emulator/index.js';

/** The demo's endpoints (paths and topics are filled in by the demo). */
export const DEMO_ENDPOINTS: Omit<EndpointInput, 's3OutputPath'>[] = [
  { name: 'demo-echo', maxConcurrentInvocationsPerInstance: 8 },
  {
    name: 'demo-broken',
    model: {
      type: 'fail',
      reason:
        'ClientError: Received server error (500) from model. See the SageMaker Endpoint logs in your account for more information.',
    },
  },
  // One slot: the blocker keeps it busy, so the request behind it outlives its TTL.
  { name: 'demo-busy', maxConcurrentInvocationsPerInstance: 1 },
];

export interface SampleJob {
  label: string;
  expected: 'completed' | 'failed' | 'expired' | 'rejected';
  data: Record<string, unknown>;
  /** Enqueued only once SageMaker accepted the call of the sample with this label. */
  after?: string;
}

/** Sample jobs: successes, a staged large body, a model failure, an invalid job, one that expires. */
export function sampleJobs(successes: number): SampleJob[] {
  const jobs: SampleJob[] = [];
  for (let i = 1; i <= successes; i++) {
    jobs.push({
      label: `transcribe clip ${i}`,
      expected: 'completed',
      data: {
        endpointName: 'demo-echo',
        body: JSON.stringify({ clip: i, text: `hello ${i}` }),
        contentType: 'application/json',
        metadata: { clip: i },
      },
    });
  }
  jobs.push({
    label: 'large payload (staged to S3)',
    expected: 'completed',
    data: { endpointName: 'demo-echo', body: 'x'.repeat(200_000), contentType: 'text/plain' },
  });
  jobs.push({
    label: 'model failure',
    expected: 'failed',
    data: { endpointName: 'demo-broken', body: '{"doomed":true}', contentType: 'application/json' },
  });
  jobs.push({
    label: 'invalid job (TTL 5 s)',
    expected: 'rejected',
    data: { endpointName: 'demo-echo', body: 'x', requestTTLSeconds: 5 },
  });
  jobs.push({
    label: 'slow blocker',
    expected: 'completed',
    data: {
      endpointName: 'demo-busy',
      body: JSON.stringify({ emulator: { sleepMs: 1500 } }),
      contentType: 'application/json',
    },
  });
  jobs.push({
    label: 'queued past its TTL (expires)',
    expected: 'expired',
    // Behind the blocker at the endpoint, whatever order the dispatcher's calls go in.
    after: 'slow blocker',
    data: { endpointName: 'demo-busy', body: 'too late', requestTTLSeconds: 60, invocationTimeoutSeconds: 1 },
  });
  return jobs;
}
