import { fileCapableKeys } from './schema.js';

/**
 * `${NAME}` references and `<key>File` secrets, resolved before the schema sees the config, with a
 * note of where each resolved value came from: an error about such a value names the variable or
 * file to fix (the file shows only the reference), never the value (it may be a secret).
 */
export type Origins = Map<string, string>;

const numericKeys = new Set(['concurrency', 'pageSize', 'maxRequestBodyBytes', 'requestsPerSecond', 'burst']);

/** Replaces `${NAME}` in every string value; `$$` is a literal `$`. A missing variable is an error. */
export function interpolateEnvironment(
  value: unknown,
  environment: NodeJS.ProcessEnv,
  path: (string | number)[],
  problems: string[],
  origins: Origins,
): unknown {
  if (typeof value === 'string') {
    const names = [...value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((match) => match[1] as string);
    if (names.length > 0) origins.set(formatPath(path), `environment variable${names.length > 1 ? 's' : ''} ${[...new Set(names)].join(', ')}`);
    // A numeric key given as exactly one reference (`concurrency: ${CONCURRENCY}`) takes the number.
    const whole = numericKeys.has(String(path.at(-1))) ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value) : null;
    const wholeValue = whole ? environment[whole[1] as string] : undefined;
    if (wholeValue !== undefined && /^-?\d+(\.\d+)?$/.test(wholeValue.trim())) return Number(wholeValue);
    return value.replace(/\$\$|\$\{([^}]*)\}/g, (match, name: string | undefined) => {
      if (match === '$$') return '$';
      if (!name || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        problems.push(`${formatPath(path)}: "\${${name ?? ''}}" is not a valid environment variable reference`);
        return '';
      }
      const replacement = environment[name];
      if (replacement === undefined) {
        problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
        return '';
      }
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolateEnvironment(item, environment, [...path, index], problems, origins));
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateEnvironment(item, environment, [...path, key], problems, origins)]),
    );
  }
  return value;
}

/** Turns `<key>File: /path` into `<key>: <file contents>` for the keys that allow it. */
export function readFileSecrets(config: unknown, readFile: (path: string) => string, problems: string[], origins: Origins): unknown {
  if (!isRecord(config)) return config;
  const result: Record<string, unknown> = { ...config };
  for (const [section, keys] of Object.entries(fileCapableKeys)) {
    if (section.includes('.')) {
      resolveNestedFileKeys(result, section.split('.'), keys, readFile, problems, origins);
      continue;
    }
    const value = result[section];
    if (Array.isArray(value)) {
      result[section] = value.map((item, index) => resolveFileKeys(item, keys, [section, index], readFile, problems, origins));
    } else if (value !== undefined) {
      result[section] = resolveFileKeys(value, keys, [section], readFile, problems, origins);
    }
  }
  return result;
}

/** `storage.postgres`: the same, one level down. */
function resolveNestedFileKeys(
  config: Record<string, unknown>,
  [section, subsection]: string[],
  keys: readonly string[],
  readFile: (path: string) => string,
  problems: string[],
  origins: Origins,
): void {
  const outer = config[section as string];
  if (!isRecord(outer) || !isRecord(outer[subsection as string])) return;
  const inner = resolveFileKeys(outer[subsection as string], keys, [section as string, subsection as string], readFile, problems, origins);
  config[section as string] = { ...outer, [subsection as string]: inner };
}

function resolveFileKeys(
  section: unknown,
  keys: readonly string[],
  path: (string | number)[],
  readFile: (path: string) => string,
  problems: string[],
  origins: Origins,
): unknown {
  if (!isRecord(section)) return section;
  const result: Record<string, unknown> = { ...section };
  for (const key of keys) {
    const fileKey = `${key}File`;
    if (!(fileKey in result)) continue;
    const filePath = result[fileKey];
    delete result[fileKey];
    const where = formatPath([...path, fileKey]);
    if (key in result) {
      problems.push(`${where}: give either ${key} or ${fileKey}, not both`);
      continue;
    }
    if (typeof filePath !== 'string' || filePath === '') {
      problems.push(`${where}: must be a file path`);
      continue;
    }
    let contents: string;
    try {
      contents = readFile(filePath);
    } catch (error) {
      problems.push(`${where}: cannot read ${filePath}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      continue;
    }
    origins.set(formatPath([...path, key]), `${fileKey} ${filePath}`);
    // Secret files usually end in a newline; a list key (apiTokens) takes one entry per line.
    result[key] = key === 'apiTokens'
      ? contents.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '')
      : contents.replace(/\r?\n$/, '');
  }
  return result;
}

/**
 * A problem with a value that came from `${VAR}` or a `<key>File` names where it came from: the
 * file shows only the reference, so the variable is what to fix (its value is never shown: it may be a secret).
 */
export function withOrigin(problem: string, origins: ReadonlyMap<string, string>): string {
  const separator = problem.indexOf(': ');
  const origin = separator > 0 ? origins.get(problem.slice(0, separator)) : undefined;
  return origin ? `${problem} (the value comes from ${origin})` : problem;
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
