import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import {
  ConnectionStringError,
  parseConnectionString,
  type NotificationHubsConnection,
} from '../sources/azure-notification-hubs/connection-string.js';
import type { RateLimitSettings } from '../server/rate-limit.js';
import { loadWebConfig, WebConfigError, type WebConfig } from '../server/web-config.js';
import { parseDuration } from '../time/duration.js';
import { configSchema, fileCapableKeys, replicaIdSchema, type RawConfig } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface AzureNotificationHubTarget {
  name: string;
  hub: string;
  connection: NotificationHubsConnection;
  /** Where requests go: the namespace by default, the simulator or a proxy in tests. */
  endpoint: string;
  /** The https URI SAS tokens are signed for; always the real namespace, whatever `endpoint` says. */
  resourceUri: string;
  apiVersion: string;
  notFoundDeadlineMilliseconds: number;
  maxAgeMilliseconds: number;
  /** Scheduled sends: how long after intake they are followed, found or not (see README). */
  scheduledMaxAgeMilliseconds: number;
  concurrency: number;
  requestTimeoutMilliseconds: number;
  errorDetails: { allowedHosts: string[]; retryForMilliseconds: number };
}

export interface EverliveTarget {
  name: string;
  /** Base URL without a trailing slash, e.g. https://api.everlive.com/v1. */
  endpoint: string;
  appId: string;
  masterKey: string;
  schedule: string;
  pageSize: number;
  overlapMilliseconds: number;
  initialLookbackMilliseconds: number;
  requestTimeoutMilliseconds: number;
  logsPath?: string;
  reasonField?: string;
}

export interface PostgresStorageConfig {
  connectionString: string;
  /** This process's name in the database ([A-Za-z0-9_.-]{1,64}): its counters are kept under it. */
  replicaId: string;
  poolSize: number;
}

/** Exactly one backend: `postgres` when given, else the SQLite file at `path`. */
export interface StorageConfig {
  path: string;
  postgres?: PostgresStorageConfig;
  finishedRetentionMilliseconds: number;
}

export interface ExporterConfig {
  server: {
    listen: ListenAddress;
    apiTokens: string[];
    maxRequestBodyBytes: number;
    /** TLS and basic auth for the exporter's endpoints (server.webConfigFile), read and checked at load. */
    web?: WebConfig;
    intakeRateLimit: RateLimitSettings;
  };
  storage: StorageConfig;
  azureNotificationHubs: AzureNotificationHubTarget[];
  everlive: EverliveTarget[];
}

export interface LoadOptions {
  environment?: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
}

export function loadConfigFile(path: string, options: LoadOptions = {}): ExporterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  return parseConfig(text, options);
}

export function parseConfig(yamlText: string, options: LoadOptions = {}): ExporterConfig {
  const document = parseDocument(yamlText, { uniqueKeys: true, prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((error) => `YAML: ${error.message.split('\n')[0]}`));
  }
  const raw: unknown = document.toJS() ?? {};
  const problems: string[] = [];
  const interpolated = interpolateEnvironment(raw, options.environment ?? process.env, [], problems);
  const withFiles = readFileSecrets(interpolated, options.readFile ?? defaultReadFile, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const result = configSchema.safeParse(withFiles);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, withFiles)));
  return resolveConfig(result.data, options.readFile);
}

function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8');
}

const numericKeys = new Set(['concurrency', 'pageSize', 'maxRequestBodyBytes', 'requestsPerSecond', 'burst']);

/** Replaces `${NAME}` in every string value; `$$` is a literal `$`. A missing variable is an error. */
function interpolateEnvironment(value: unknown, environment: NodeJS.ProcessEnv, path: (string | number)[], problems: string[]): unknown {
  if (typeof value === 'string') {
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
  if (Array.isArray(value)) return value.map((item, index) => interpolateEnvironment(item, environment, [...path, index], problems));
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateEnvironment(item, environment, [...path, key], problems)]),
    );
  }
  return value;
}

/** Turns `<key>File: /path` into `<key>: <file contents>` for the keys that allow it. */
function readFileSecrets(config: unknown, readFile: (path: string) => string, problems: string[]): unknown {
  if (!isRecord(config)) return config;
  const result: Record<string, unknown> = { ...config };
  for (const [section, keys] of Object.entries(fileCapableKeys)) {
    if (section.includes('.')) {
      resolveNestedFileKeys(result, section.split('.'), keys, readFile, problems);
      continue;
    }
    const value = result[section];
    if (Array.isArray(value)) {
      result[section] = value.map((item, index) => resolveFileKeys(item, keys, [section, index], readFile, problems));
    } else if (value !== undefined) {
      result[section] = resolveFileKeys(value, keys, [section], readFile, problems);
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
): void {
  const outer = config[section as string];
  if (!isRecord(outer) || !isRecord(outer[subsection as string])) return;
  const inner = resolveFileKeys(outer[subsection as string], keys, [section as string, subsection as string], readFile, problems);
  config[section as string] = { ...outer, [subsection as string]: inner };
}

function resolveFileKeys(
  section: unknown,
  keys: readonly string[],
  path: (string | number)[],
  readFile: (path: string) => string,
  problems: string[],
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
    // Secret files usually end in a newline; a list key (apiTokens) takes one entry per line.
    result[key] = key === 'apiTokens'
      ? contents.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '')
      : contents.replace(/\r?\n$/, '');
  }
  return result;
}

function resolveConfig(raw: RawConfig, readFile: ((path: string) => string) | undefined): ExporterConfig {
  const problems: string[] = [];
  const listen = parseListenAddress(raw.server.listen);
  if (typeof listen === 'string') problems.push(`server.listen: ${listen}`);
  let web: WebConfig | undefined;
  if (raw.server.webConfigFile !== undefined) {
    try {
      web = loadWebConfig(raw.server.webConfigFile, readFile);
    } catch (error) {
      if (!(error instanceof WebConfigError)) throw error;
      problems.push(...error.problems.map((problem) => `server.webConfigFile (${raw.server.webConfigFile}): ${problem}`));
    }
  }

  const seenNames = new Map<string, string>();
  const checkUnique = (name: string, where: string) => {
    const earlier = seenNames.get(name);
    if (earlier) problems.push(`${where}.name: "${name}" is already used by ${earlier}`);
    else seenNames.set(name, where);
  };

  const azureNotificationHubs: AzureNotificationHubTarget[] = [];
  raw.azureNotificationHubs.forEach((hub, index) => {
    const where = `azureNotificationHubs[${index}]`;
    checkUnique(hub.name, where);
    let connection: NotificationHubsConnection;
    try {
      connection = parseConnectionString(hub.connectionString);
    } catch (error) {
      if (!(error instanceof ConnectionStringError)) throw error;
      problems.push(`${where}.connectionString: ${error.message}`);
      return;
    }
    azureNotificationHubs.push({
      name: hub.name,
      hub: hub.hub,
      connection,
      endpoint: (hub.endpoint ?? connection.namespaceUri).replace(/\/+$/, ''),
      resourceUri: `${connection.namespaceUri}/${hub.hub}`,
      apiVersion: hub.apiVersion,
      notFoundDeadlineMilliseconds: parseDuration(hub.notFoundDeadline) as number,
      maxAgeMilliseconds: parseDuration(hub.maxAge) as number,
      scheduledMaxAgeMilliseconds: parseDuration(hub.scheduledMaxAge) as number,
      concurrency: hub.concurrency,
      requestTimeoutMilliseconds: parseDuration(hub.requestTimeout) as number,
      errorDetails: { allowedHosts: hub.errorDetails.allowedHosts, retryForMilliseconds: parseDuration(hub.errorDetails.retryFor) as number },
    });
  });

  const everlive: EverliveTarget[] = raw.everlive.map((app, index) => {
    checkUnique(app.name, `everlive[${index}]`);
    return {
      name: app.name,
      endpoint: app.endpoint.replace(/\/+$/, ''),
      appId: app.appId,
      masterKey: app.masterKey,
      schedule: app.schedule,
      pageSize: app.pageSize,
      overlapMilliseconds: parseDuration(app.overlap) as number,
      initialLookbackMilliseconds: parseDuration(app.initialLookback) as number,
      requestTimeoutMilliseconds: parseDuration(app.requestTimeout) as number,
      logsPath: app.logsPath,
      reasonField: app.reasonField,
    };
  });

  const postgres = resolvePostgres(raw.storage.postgres, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    server: {
      listen: listen as ListenAddress,
      apiTokens: raw.server.apiTokens,
      maxRequestBodyBytes: raw.server.maxRequestBodyBytes,
      web,
      intakeRateLimit: { requestsPerSecond: raw.server.intakeRateLimit.requestsPerSecond, burst: raw.server.intakeRateLimit.burst },
    },
    storage: {
      path: raw.storage.path ?? defaultStatePath,
      postgres,
      finishedRetentionMilliseconds: parseDuration(raw.storage.finishedRetention) as number,
    },
    azureNotificationHubs,
    everlive,
  };
}

const defaultStatePath = './data/state.db';

/** The replica ID defaults to the host name (the pod name on Kubernetes), which must then fit the rule too. */
function resolvePostgres(raw: RawConfig['storage']['postgres'], problems: string[]): PostgresStorageConfig | undefined {
  if (!raw) return undefined;
  const replicaId = raw.replicaId ?? hostname();
  if (!replicaIdSchema.safeParse(replicaId).success) {
    problems.push(`storage.postgres.replicaId: not set, and the host name ${JSON.stringify(replicaId.slice(0, 80))} is not 1-64 characters of A-Z a-z 0-9 _ . -: set replicaId`);
  }
  return { connectionString: raw.connectionString, replicaId, poolSize: raw.poolSize };
}

/** `host:port`, `[v6]:port` or `:port` (all interfaces). Port 0 picks a free port. */
export function parseListenAddress(text: string): ListenAddress | string {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!match) return `"${text}" is not host:port`;
  const port = Number(match[3]);
  if (port > 65535) return `port ${port} is out of range`;
  const host = match[1] ?? (match[2] ? match[2] : '0.0.0.0');
  return { host, port };
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key`).join('\n  ');
  }
  if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) return `${where}: is required`;
  return `${where || '(top level)'}: ${issue.message}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const part of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) => (typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`))
    .join('');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
