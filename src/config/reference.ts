import { parseEndpointPolicies } from './endpoint-policies.js';
import { schemaDefinition } from './schema.js';

/** The README markers around the generated configuration reference. */
export const CONFIG_REFERENCE_START = '<!-- config-reference:start -->';
export const CONFIG_REFERENCE_END = '<!-- config-reference:end -->';

/** One setting of the schema, as the reference documents it. */
export interface SettingReference {
  /** Dotted key, e.g. `redis.url`. */
  key: string;
  /** The environment variable that sets it; none for settings read from files only. */
  env: string | undefined;
  default: unknown;
  doc: string;
  /** Human-readable type, from the convict format. */
  type: string;
  sensitive: boolean;
  /** Lists given in an environment variable are comma-separated. */
  list: boolean;
}

/** Per-endpoint fields of the `endpoints` map; every field of the policy must have a line here. */
const ENDPOINT_FIELD_DOCS: Record<string, { type: string; doc: string }> = {
  maxTps: {
    type: 'number ≥ 0',
    doc: 'Calls per second to this endpoint, across every process; fractions allowed; 0 means unlimited.',
  },
  burst: {
    type: 'integer ≥ 1',
    doc: 'Calls that may go out back to back; 1 spaces calls evenly, so no 1-second window exceeds maxTps.',
  },
  maxInFlight: {
    type: 'integer ≥ 0',
    doc: 'Inferences submitted and not yet resolved (completed, failed or expired); 0 means unlimited.',
  },
  region: {
    type: 'AWS region',
    doc: "Region of the endpoint, e.g. eu-west-1; empty uses the AWS SDK's default (AWS_REGION).",
  },
  notifications: {
    type: 'boolean',
    doc: 'false for endpoints without SNS success/error topics: their inferences are resolved by polling S3.',
  },
};

const LIST_FORMATS: Record<string, string> = {
  'role-list': 'list of roles',
  'string-list': 'list of strings',
  'url-list': 'list of URLs',
  'webhook-secrets': 'list of `whsec_` secrets',
  'seconds-list': 'list of seconds',
};

const NAMED_FORMATS: Record<string, string> = {
  nat: 'integer ≥ 0',
  'positive-int': 'integer ≥ 1',
  'strict-boolean': 'boolean',
  port: 'port (0-65535)',
  int: 'integer',
  'redis-url': '`redis://` or `rediss://` URL',
  's3-uri-or-empty': '`s3://bucket/prefix` or empty',
  'optional-url': 'http(s) URL or empty',
  policy: '`delete` or `retain`',
};

function describeFormat(format: unknown, fallback: unknown): { type: string; list: boolean } {
  if (typeof format === 'string') {
    const list = LIST_FORMATS[format];
    if (list) return { type: list, list: true };
    return { type: NAMED_FORMATS[format] ?? format, list: false };
  }
  if (Array.isArray(format))
    return { type: `one of ${format.map((v) => `\`${v}\``).join(', ')}`, list: false };
  if (format === Boolean) return { type: 'boolean', list: false };
  if (format === String) return { type: 'string', list: false };
  if (format === Number) return { type: 'number', list: false };
  if (format === Object) return { type: 'object', list: false };
  // A validating function: say what the default is made of.
  if (typeof fallback === 'number') return { type: 'number', list: false };
  if (typeof fallback === 'string') return { type: 'string', list: false };
  return { type: typeof fallback, list: false };
}

function isLeaf(node: Record<string, unknown>): boolean {
  return 'doc' in node && 'default' in node;
}

/** Every setting of a convict schema definition, in declaration order. */
export function listSettings(definition: object = schemaDefinition): SettingReference[] {
  const out: SettingReference[] = [];
  const walk = (node: Record<string, unknown>, path: string[]) => {
    for (const [name, child] of Object.entries(node)) {
      if (typeof child !== 'object' || child === null) continue;
      const spec = child as Record<string, unknown>;
      if (!isLeaf(spec)) {
        walk(spec, [...path, name]);
        continue;
      }
      const { type, list } = describeFormat(spec.format, spec.default);
      out.push({
        key: [...path, name].join('.'),
        env: typeof spec.env === 'string' ? spec.env : undefined,
        default: spec.default,
        doc: String(spec.doc),
        type,
        sensitive: spec.sensitive === true,
        list,
      });
    }
  };
  walk(definition as Record<string, unknown>, []);
  return out;
}

/** A table cell: no pipes or line breaks to break the row. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function code(value: string): string {
  return `\`${value}\``;
}

function defaultCell(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === '""') return '`""` (empty)';
  return code(json);
}

/**
 * The configuration reference, in Markdown, rendered from `schemaDefinition`: every
 * setting with its environment variable, type, default and description, and the fields of
 * an `endpoints` entry. Pure: the same schema always renders the same text.
 */
export function renderConfigReference(): string {
  const lines: string[] = [];
  lines.push('<!-- Generated from src/config/schema.ts by `npm run docs:config`; do not edit by hand. -->');
  lines.push('');
  lines.push('### Settings');
  lines.push('');
  lines.push(
    'Every setting, with the environment variable that sets it and its built-in default. ' +
      'In a file, a dotted key is a nested object (`redis.url` is `{"redis": {"url": ...}}`); ' +
      'lists are JSON arrays in files and comma-separated in environment variables.',
  );
  lines.push('');
  lines.push('| key | environment variable | type | default | description |');
  lines.push('|---|---|---|---|---|');
  for (const setting of listSettings()) {
    const env = setting.env ? code(setting.env) : 'config file only';
    const type = setting.list ? `${setting.type} (comma-separated in the variable)` : setting.type;
    let doc = setting.doc;
    if (setting.sensitive)
      doc += ' **Secret:** `smad config check` and configuration errors show it as `[redacted]`.';
    if (setting.key === 'endpoints') doc += ' Fields below.';
    lines.push(
      `| ${code(setting.key)} | ${env} | ${cell(type)} | ${cell(defaultCell(setting.default))} | ${cell(doc)} |`,
    );
  }
  lines.push('');
  lines.push(
    '`SMAD_CONFIG` names configuration files (comma-separated), read before the files given by ' +
      '`--config`. The password in `redis.url` is redacted when printed.',
  );
  lines.push('');
  lines.push('### Endpoint policies (`endpoints`)');
  lines.push('');
  lines.push(
    'Keys are SageMaker endpoint names; `"*"` is the policy of every endpoint not named. ' +
      'A named entry inherits each field it leaves out from `"*"`, which inherits from the defaults below. ' +
      'Limits are exact across every smad process sharing the Redis; `kill -HUP` (SIGHUP) reloads ' +
      '`endpoints`, `limits` and `flow` without a restart.',
  );
  lines.push('');
  lines.push('| field | type | default | description |');
  lines.push('|---|---|---|---|');
  const builtin = parseEndpointPolicies({})['*'] as unknown as Record<string, unknown>;
  for (const [field, value] of Object.entries(builtin)) {
    const doc = ENDPOINT_FIELD_DOCS[field];
    if (!doc) throw new Error(`endpoint policy field "${field}" has no documentation in reference.ts`);
    lines.push(`| ${code(field)} | ${cell(doc.type)} | ${cell(defaultCell(value))} | ${cell(doc.doc)} |`);
  }
  for (const field of Object.keys(ENDPOINT_FIELD_DOCS)) {
    if (!(field in builtin))
      throw new Error(`reference.ts documents endpoint field "${field}", which policies do not have`);
  }
  return `${lines.join('\n')}\n`;
}

function markerPositions(readme: string): { start: number; end: number } {
  const start = readme.indexOf(CONFIG_REFERENCE_START);
  const end = readme.indexOf(CONFIG_REFERENCE_END);
  if (start < 0 || end < 0)
    throw new Error(`the README has no ${CONFIG_REFERENCE_START} … ${CONFIG_REFERENCE_END} block`);
  if (
    readme.indexOf(CONFIG_REFERENCE_START, start + 1) >= 0 ||
    readme.indexOf(CONFIG_REFERENCE_END, end + 1) >= 0
  )
    throw new Error('the README has more than one config-reference block');
  if (end < start) throw new Error(`${CONFIG_REFERENCE_END} comes before ${CONFIG_REFERENCE_START}`);
  return { start: start + CONFIG_REFERENCE_START.length, end };
}

/** The text between the README's markers (without the newlines right inside them). */
export function extractConfigReference(readme: string): string {
  const { start, end } = markerPositions(readme);
  return readme.slice(start, end).replace(/^\r?\n/, '');
}

/** The README with the block between the markers replaced by `reference`. */
export function replaceConfigReference(readme: string, reference: string): string {
  const { start, end } = markerPositions(readme);
  const body = reference.endsWith('\n') ? reference : `${reference}\n`;
  return `${readme.slice(0, start)}\n${body}${readme.slice(end)}`;
}
