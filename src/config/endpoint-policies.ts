/** Flow-control and routing policy of one SageMaker endpoint (the `endpoints` map of the configuration). */
export interface EndpointPolicy {
  /** Calls per second to this endpoint across all processes; 0 means unlimited. */
  maxTps: number;
  /** Calls that may go out back to back; 1 spaces calls evenly (no 1-second window above maxTps). */
  burst: number;
  /** Inferences submitted and not yet resolved; 0 means unlimited. */
  maxInFlight: number;
  /** AWS region of the endpoint; empty uses the SDK's default chain. */
  region: string;
  /** false: the endpoint has no SNS topics, so its inferences are resolved by polling S3. */
  notifications: boolean;
}

export type EndpointPolicies = Record<string, EndpointPolicy>;

const FIELD_NAMES = ['maxTps', 'burst', 'maxInFlight', 'region', 'notifications'] as const;

const BUILTIN_DEFAULT: EndpointPolicy = {
  maxTps: 20,
  burst: 1,
  maxInFlight: 500,
  region: '',
  notifications: true,
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates the raw `endpoints` map and fills every entry from the "*" entry, which itself
 * is filled from built-in defaults. Throws one Error naming every problem.
 */
export function parseEndpointPolicies(raw: unknown): EndpointPolicies {
  const problems: string[] = [];
  if (!isPlainObject(raw)) throw new Error('must be an object keyed by endpoint name ("*" for the default)');
  const parsePartial = (name: string, entry: unknown): Partial<EndpointPolicy> => {
    const out: Partial<EndpointPolicy> = {};
    if (!isPlainObject(entry)) {
      problems.push(`endpoints.${name} must be an object`);
      return out;
    }
    for (const key of Object.keys(entry)) {
      if (!(FIELD_NAMES as readonly string[]).includes(key))
        problems.push(`endpoints.${name}.${key} is not a setting (known: ${FIELD_NAMES.join(', ')})`);
    }
    const num = (key: 'maxTps' | 'burst' | 'maxInFlight', integer: boolean, min: number) => {
      const v = entry[key];
      if (v === undefined) return;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
        problems.push(`endpoints.${name}.${key} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
        return;
      }
      out[key] = v;
    };
    num('maxTps', false, 0);
    num('burst', true, 1);
    num('maxInFlight', true, 0);
    if (entry.region !== undefined) {
      if (typeof entry.region !== 'string' || !/^([a-z]{2}(-[a-z]+)+-\d)?$/.test(entry.region))
        problems.push(`endpoints.${name}.region must be an AWS region name such as eu-west-1`);
      else out.region = entry.region;
    }
    if (entry.notifications !== undefined) {
      if (typeof entry.notifications !== 'boolean')
        problems.push(`endpoints.${name}.notifications must be true or false`);
      else out.notifications = entry.notifications;
    }
    return out;
  };

  for (const name of Object.keys(raw)) {
    if (name !== '*' && !/^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/.test(name))
      problems.push(`endpoints["${name}"] is not a valid SageMaker endpoint name`);
    else if (name.length > 63) problems.push(`endpoints["${name}"] is longer than 63 characters`);
  }
  const fallback: EndpointPolicy = { ...BUILTIN_DEFAULT, ...parsePartial('*', raw['*'] ?? {}) };
  const policies: EndpointPolicies = { '*': fallback };
  for (const [name, entry] of Object.entries(raw)) {
    if (name === '*') continue;
    policies[name] = { ...fallback, ...parsePartial(name, entry) };
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return policies;
}

/** The policy that applies to an endpoint: its own entry, else "*". */
export function policyFor(policies: EndpointPolicies, endpointName: string): EndpointPolicy {
  return policies[endpointName] ?? policies['*'] ?? BUILTIN_DEFAULT;
}
