/**
 * A minimal JSON Schema (draft 2020-12) evaluator for the keywords schema/job.schema.json
 * uses, so tests can hold the schema and the validator to the same verdicts without a schema
 * library. It throws on any keyword it does not know, so the schema cannot silently outgrow it.
 */

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['$schema', '$id', '$comment', 'title', 'description', 'default', 'examples']);

export const SUPPORTED_KEYWORDS = new Set([
  ...ANNOTATIONS,
  'type',
  'enum',
  'const',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'properties',
  'required',
  'additionalProperties',
  'dependentRequired',
  'oneOf',
  'if',
  'then',
]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      throw new Error(`unknown type ${type}`);
  }
}

/** Whether `value` (parsed JSON) is valid against `schema`. */
export function isValid(schema: Schema, value: unknown): boolean {
  for (const keyword of Object.keys(schema)) {
    if (!SUPPORTED_KEYWORDS.has(keyword)) throw new Error(`unsupported keyword ${keyword}`);
  }
  const s = schema as Record<string, never>;
  if (s.type !== undefined && !hasType(value, s.type)) return false;
  if (s.enum !== undefined && !(s.enum as unknown[]).includes(value)) return false;
  if (s.const !== undefined && value !== s.const) return false;
  if (typeof value === 'string') {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) return false;
    if (s.maxLength !== undefined && length > s.maxLength) return false;
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(value)) return false;
  }
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) return false;
    if (s.maximum !== undefined && value > s.maximum) return false;
  }
  if (isObject(value)) {
    const properties = (s.properties ?? {}) as Record<string, Schema>;
    for (const [key, sub] of Object.entries(properties)) {
      if (Object.hasOwn(value, key) && !isValid(sub, value[key])) return false;
    }
    if (s.required !== undefined && !(s.required as string[]).every((key) => Object.hasOwn(value, key)))
      return false;
    if (s.additionalProperties === false && Object.keys(value).some((key) => !Object.hasOwn(properties, key)))
      return false;
    if (s.additionalProperties !== undefined && s.additionalProperties !== false)
      throw new Error('additionalProperties other than false is not supported');
    const dependent = (s.dependentRequired ?? {}) as Record<string, string[]>;
    for (const [key, needs] of Object.entries(dependent)) {
      if (Object.hasOwn(value, key) && !needs.every((n) => Object.hasOwn(value, n))) return false;
    }
  }
  if (s.oneOf !== undefined && (s.oneOf as Schema[]).filter((sub) => isValid(sub, value)).length !== 1)
    return false;
  if (s.if !== undefined && isValid(s.if, value) && s.then !== undefined && !isValid(s.then, value))
    return false;
  return true;
}
