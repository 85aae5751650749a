import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseDocument, type YAMLError } from 'yaml';
import type { z } from 'zod';
import {
  ConnectionStringError,
  parseConnectionString,
  type NotificationHubsConnection,
} from '../sources/azure-notification-hubs/connection-string.js';
import type { RateLimitSettings } from '../server/rate-limit.js';
import { loadWebConfig, WebConfigError, type WebConfig } from '../server/web-config.js';
import { parseDuration } from '../time/duration.js';
import { formatPath, interpolateEnvironment, isRecord, readFileSecrets, withOrigin } from './references.js';
import { configSchema, replicaIdSchema, type RawConfig } from './schema.js';

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

export interface AzureMonitorTarget {
  name: string;
  /** As configured, without a trailing slash; starts with `/`. */
  resourceId: string;
  /** With clientSecret: a service principal; without: workload identity, then managed identity. */
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** ARM base URL without a trailing slash, e.g. https://management.azure.com. */
  endpoint: string;
  authorityHost: string;
  intervalMilliseconds: number;
  settleDelayMilliseconds: number;
  initialLookbackMilliseconds: number;
  requestTimeoutMilliseconds: number;
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
  azureMonitor: AzureMonitorTarget[];
}

export interface LoadOptions {
  environment?: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
  /**
   * Values given on the command line that replace keys of the file (`--web.listen-address`,
   * `--web.config.file`); `source` names where they came from in error messages.
   */
  overrides?: { listen?: Override; webConfigFile?: Override };
}

export interface Override {
  value: string;
  source: string;
}

export function loadConfigFile(path: string, options: LoadOptions = {}): ExporterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  const config = parseConfig(text, options);
  // A file with nothing to export is a mistake (a wrong file, or a section name misspelt at the
  // top level would already be an unknown key): the exporter would start and export nothing.
  if (config.azureNotificationHubs.length === 0 && config.everlive.length === 0 && config.azureMonitor.length === 0) {
    throw new ConfigError(['no targets: configure at least one entry under azureNotificationHubs, everlive or azureMonitor (README "Configuration")']);
  }
  return config;
}

export function parseConfig(yamlText: string, options: LoadOptions = {}): ExporterConfig {
  const document = parseDocument(yamlText, { uniqueKeys: true, prettyErrors: true });
  // Only the first: the parser's later errors usually follow from it (one tab gave nine).
  const [yamlError] = document.errors;
  if (yamlError) throw new ConfigError([describeYamlError(yamlError)]);
  const raw: unknown = document.toJS() ?? {};
  const problems: string[] = [];
  const origins = new Map<string, string>();
  const interpolated = interpolateEnvironment(raw, options.environment ?? process.env, [], problems, origins);
  const withFiles = applyOverrides(readFileSecrets(interpolated, options.readFile ?? defaultReadFile, problems, origins), options.overrides);
  if (problems.length > 0) throw new ConfigError(problems);

  const result = configSchema.safeParse(withFiles);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => withOrigin(describeIssue(issue, withFiles), origins)));
  try {
    return resolveConfig(result.data, options.readFile, {
      listen: options.overrides?.listen?.source ?? 'server.listen',
      webConfigFile: options.overrides?.webConfigFile?.source ?? 'server.webConfigFile',
    });
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(error.problems.map((problem) => withOrigin(problem, origins)));
    throw error;
  }
}

/** `line 2, column 1: Tabs are not allowed as indentation (indent with spaces)`, without the parser's dangling colon and excerpt. */
function describeYamlError(error: YAMLError): string {
  const headline = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '').replace(/:$/, '');
  const position = error.linePos?.[0];
  const where = position ? `line ${position.line}, column ${position.col}: ` : '';
  const hint = error.code === 'TAB_AS_INDENT' ? ' (indent with spaces)' : '';
  return `YAML ${where}${headline}${hint}`;
}

function applyOverrides(config: unknown, overrides: LoadOptions['overrides']): unknown {
  if (!overrides || !isRecord(config)) return config;
  const server: Record<string, unknown> = isRecord(config.server) ? { ...config.server } : {};
  if (overrides.listen) server.listen = overrides.listen.value;
  if (overrides.webConfigFile) server.webConfigFile = overrides.webConfigFile.value;
  return { ...config, server };
}

function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8');
}

function resolveConfig(raw: RawConfig, readFile: ((path: string) => string) | undefined, names: { listen: string; webConfigFile: string }): ExporterConfig {
  const problems: string[] = [];
  const listen = parseListenAddress(raw.server.listen);
  if (typeof listen === 'string') problems.push(`${names.listen}: ${listen}`);
  let web: WebConfig | undefined;
  if (raw.server.webConfigFile !== undefined) {
    try {
      web = loadWebConfig(raw.server.webConfigFile, readFile);
    } catch (error) {
      if (!(error instanceof WebConfigError)) throw error;
      problems.push(...error.problems.map((problem) => `${names.webConfigFile} (${raw.server.webConfigFile}): ${problem}`));
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

  const azureMonitor: AzureMonitorTarget[] = raw.azureMonitor.map((hub, index) => {
    // May share its name with the azureNotificationHubs entry of the same hub (other source label).
    const where = `azureMonitor[${index}]`;
    if (raw.azureMonitor.findIndex((other) => other.name === hub.name) !== index) problems.push(`${where}.name: "${hub.name}" is already used by another azureMonitor entry`);
    return {
      name: hub.name,
      resourceId: hub.resourceId.replace(/\/+$/, ''),
      tenantId: hub.tenantId,
      clientId: hub.clientId,
      clientSecret: hub.clientSecret,
      endpoint: hub.endpoint.replace(/\/+$/, ''),
      authorityHost: hub.authorityHost.replace(/\/+$/, ''),
      intervalMilliseconds: parseDuration(hub.interval) as number,
      settleDelayMilliseconds: parseDuration(hub.settleDelay) as number,
      initialLookbackMilliseconds: parseDuration(hub.initialLookback) as number,
      requestTimeoutMilliseconds: parseDuration(hub.requestTimeout) as number,
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
    azureMonitor,
  };
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
