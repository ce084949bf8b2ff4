/**
 * Small readers for the deployment files, so the tests can check what they run against smad
 * itself. They read the subsets the files are written in and throw on anything else, so a
 * file that drifts out of the subset fails loudly instead of being half-read.
 */

// ---------------------------------------------------------------- YAML subset (compose)

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };
export type YamlMap = { [key: string]: YamlValue };

interface Line {
  number: number;
  indent: number;
  text: string;
}

/** A scalar: a JSON string, array or object ("...", [...], {...}), a number, or a plain word. */
function scalar(raw: string, where: string): YamlValue {
  const text = raw.trim();
  if (text === '') return null;
  if (text.startsWith('"') || text.startsWith('[') || text.startsWith('{')) {
    try {
      return JSON.parse(text) as YamlValue;
    } catch (err) {
      throw new Error(`${where}: not a JSON-compatible value: ${text} (${(err as Error).message})`);
    }
  }
  if (
    text.startsWith("'") ||
    text.startsWith('&') ||
    text.startsWith('*') ||
    text.startsWith('|') ||
    text.startsWith('>')
  )
    throw new Error(`${where}: outside the supported YAML subset: ${text}`);
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null' || text === '~') return null;
  if (!/^[A-Za-z0-9_./:@-]+$/.test(text)) throw new Error(`${where}: quote this value: ${text}`);
  return text;
}

/** Strips a comment that starts outside a quoted string. */
function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && inString) {
      i++;
      continue;
    }
    if (c === '"') inString = !inString;
    if (c === '#' && !inString && (i === 0 || line[i - 1] === ' ')) return line.slice(0, i);
  }
  return line;
}

/**
 * Reads YAML written as nested maps ("key: value", two-space indents), "- item" lists of
 * scalars, and scalars that are JSON strings, JSON arrays/objects, numbers, booleans or plain
 * words. No anchors, multi-line strings, single quotes or flow maps beyond JSON.
 */
export function readYamlSubset(text: string, file = 'yaml'): YamlMap {
  const lines: Line[] = [];
  text.split('\n').forEach((raw, index) => {
    if (raw.includes('\t')) throw new Error(`${file}:${index + 1}: tab character`);
    const content = stripComment(raw).replace(/\s+$/, '');
    if (content.trim() === '') return;
    const indent = content.length - content.trimStart().length;
    if (indent % 2 !== 0) throw new Error(`${file}:${index + 1}: indentation must be a multiple of two`);
    lines.push({ number: index + 1, indent, text: content.trim() });
  });
  let position = 0;

  const block = (indent: number): YamlValue => {
    const first = lines[position];
    if (!first || first.indent < indent) return null;
    if (first.indent > indent) throw new Error(`${file}:${first.number}: unexpected indentation`);
    if (first.text.startsWith('- ')) {
      const list: YamlValue[] = [];
      while (position < lines.length) {
        const line = lines[position] as Line;
        if (line.indent < indent) break;
        if (line.indent > indent || !line.text.startsWith('- '))
          throw new Error(`${file}:${line.number}: expected "- item" (lists hold scalars only)`);
        list.push(scalar(line.text.slice(2), `${file}:${line.number}`));
        position++;
      }
      return list;
    }
    const map: YamlMap = {};
    while (position < lines.length) {
      const line = lines[position] as Line;
      if (line.indent < indent) break;
      if (line.indent > indent) throw new Error(`${file}:${line.number}: unexpected indentation`);
      const match = /^("[^"]+"|[A-Za-z0-9_.-]+):(?:\s+(.*))?$/.exec(line.text);
      if (!match?.[1]) throw new Error(`${file}:${line.number}: expected "key: value": ${line.text}`);
      const key = match[1].startsWith('"') ? (JSON.parse(match[1]) as string) : match[1];
      if (key in map) throw new Error(`${file}:${line.number}: duplicate key ${key}`);
      position++;
      if (match[2] !== undefined && match[2] !== '') {
        map[key] = scalar(match[2], `${file}:${line.number}`);
      } else {
        const next = lines[position];
        map[key] = next && next.indent > indent ? block(indent + 2) : null;
      }
    }
    return map;
  };

  const root = block(0);
  if (position < lines.length)
    throw new Error(`${file}:${lines[position]?.number}: could not read from here on`);
  if (root === null || typeof root !== 'object' || Array.isArray(root))
    throw new Error(`${file}: the document must be a map`);
  return root;
}

/**
 * Compose-style interpolation: `${NAME}`, `${NAME:-default}`, `${NAME-default}` and `$$`
 * (a literal `$`), from `env`. Any other `$` is an error, as it would surprise compose users.
 */
export function interpolate(value: string, env: Record<string, string | undefined> = {}): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$/g,
    (whole, name, op, fallback) => {
      if (whole === '$$') return '$';
      if (whole === '$') throw new Error(`unsupported "$" in ${JSON.stringify(value)}`);
      const current = env[name as string];
      if (op === ':-') return current === undefined || current === '' ? (fallback as string) : current;
      if (op === '-') return current === undefined ? (fallback as string) : current;
      return current ?? '';
    },
  );
}

// ---------------------------------------------------------------- Dockerfile

export interface DockerInstruction {
  line: number;
  instruction: string;
  /** Everything after the instruction keyword, continuation lines joined. */
  args: string;
}

export interface DockerStage {
  from: string;
  name: string | undefined;
  instructions: DockerInstruction[];
}

/** Instructions with continuation lines joined and comments dropped, grouped by stage. */
export function readDockerfile(text: string): DockerStage[] {
  const stages: DockerStage[] = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const start = i;
    let line = (raw[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    while (line.endsWith('\\')) {
      i++;
      let next = (raw[i] ?? '').trim();
      while (next.startsWith('#')) {
        i++;
        next = (raw[i] ?? '').trim();
      }
      line = `${line.slice(0, -1).trimEnd()} ${next}`;
    }
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match?.[1] || match[2] === undefined)
      throw new Error(`Dockerfile:${start + 1}: cannot read ${line}`);
    const instruction = match[1].toUpperCase();
    const args = match[2].trim();
    if (instruction === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from?.[1]) throw new Error(`Dockerfile:${start + 1}: cannot read FROM ${args}`);
      stages.push({ from: from[1], name: from[2], instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile:${start + 1}: ${instruction} before FROM`);
    stage.instructions.push({ line: start + 1, instruction, args });
  }
  return stages;
}

/** An exec-form (JSON array) argument, e.g. of CMD, ENTRYPOINT or HEALTHCHECK ... CMD. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string'))
    throw new Error(`not an exec-form array: ${args}`);
  return parsed as string[];
}

// ---------------------------------------------------------------- systemd

export type UnitFile = Record<string, Record<string, string[]>>;

/** A systemd unit: section → key → every value assigned (in order). */
export function readUnitFile(text: string): UnitFile {
  const unit: UnitFile = {};
  let section: Record<string, string[]> | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header?.[1]) {
      unit[header[1]] ??= {};
      section = unit[header[1]];
      return;
    }
    const match = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    if (!match?.[1] || match[2] === undefined || !section)
      throw new Error(`unit line ${index + 1}: cannot read ${line}`);
    section[match[1]] ??= [];
    section[match[1]]?.push(match[2]);
  });
  return unit;
}

export interface EnvFile {
  /** KEY=value lines in force. */
  active: Record<string, string>;
  /** `# KEY=value` lines: optional settings shown commented out. */
  commented: Record<string, string>;
}

/** An EnvironmentFile: KEY=value lines, and commented-out `# KEY=value` examples. */
export function readEnvFile(text: string): EnvFile {
  const out: EnvFile = { active: {}, commented: {} };
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const commented = /^#\s?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (commented?.[1] && commented[2] !== undefined) {
      out.commented[commented[1]] = commented[2];
      return;
    }
    if (line.startsWith('#')) return;
    const active = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!active?.[1] || active[2] === undefined)
      throw new Error(`env file line ${index + 1}: cannot read ${line}`);
    if (active[1] in out.active) throw new Error(`env file line ${index + 1}: ${active[1]} set twice`);
    out.active[active[1]] = active[2];
  });
  return out;
}
