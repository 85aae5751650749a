import { validate as validateCron } from 'node-cron';
import { z } from 'zod';
import { parseDuration } from '../time/duration.js';

/**
 * The YAML config file, validated strictly: unknown keys are errors, every key has a documented default.
 * Contract: ../shared/design.md "Config file". Secrets may come from `<key>File` (see load.ts).
 */
const targetName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -');

/** The replica's name in the database: its counter totals are kept under it. */
export const replicaIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -');

const duration = z.string().refine((text) => parseDuration(text) !== undefined, {
  message: 'is not a duration (examples: 500ms, 10s, 30m, 2h)',
});

const httpUrl = z.string().refine(
  (text) => {
    try {
      const url = new URL(text);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '';
    } catch {
      return false;
    }
  },
  { message: 'must be an http:// or https:// URL without query or fragment' },
);

export const azureNotificationHubSchema = z.strictObject({
  name: targetName,
  connectionString: z.string().min(1, 'must not be empty'),
  hub: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,259}$/, 'must be a hub name (letters, digits, . _ -, up to 260)'),
  endpoint: httpUrl.optional(),
  apiVersion: z.string().regex(/^\d{4}-\d{2}(-\d{2})?$/, 'must look like 2020-06').default('2020-06'),
  notFoundDeadline: duration.default('30m'),
  maxAge: duration.default('2h'),
  /**
   * Bounds a scheduled send instead of notFoundDeadline and maxAge: its telemetry may not exist until
   * its scheduled time, up to 7 days ahead (docs: notification-hubs-send-push-notifications-scheduled).
   */
  scheduledMaxAge: duration.default('8d'),
  concurrency: z.number().int().min(1).max(256).default(8),
  requestTimeout: duration.default('10s'),
  errorDetails: z
    .strictObject({
      /** Hosts a PnsErrorDetailsUri may point to: host or host:port, `*.` for one subdomain label. */
      allowedHosts: z.array(z.string().regex(/^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$/, 'must be a host or host:port')).default(['*.blob.core.windows.net']),
      /** How long a blob that is not there yet is asked for again. */
      retryFor: duration.default('2h'),
    })
    .prefault({}),
});

export const everliveSchema = z.strictObject({
  name: targetName,
  endpoint: httpUrl.default('https://api.everlive.com/v1'),
  appId: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be an app ID (letters, digits, _ -)'),
  masterKey: z.string().min(1, 'must not be empty'),
  schedule: z
    .string()
    .refine((expression) => validateCron(expression), { message: 'is not a valid cron expression (node-cron, 5 or 6 fields)' })
    .default('0 * * * * *'),
  pageSize: z.number().int().min(1).max(500).default(100),
  overlap: duration.default('1m'),
  initialLookback: duration.default('24h'),
  requestTimeout: duration.default('10s'),
  logsPath: z.string().regex(/^[^?#]*\{id\}[^?#]*$/, 'must be a path containing {id}').optional(),
  reasonField: z.string().min(1).optional(),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      listen: z.string().default('0.0.0.0:10130'),
      apiTokens: z.array(z.string().min(1, 'must not be empty')).default([]),
      maxRequestBodyBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
      /**
       * TLS and basic auth for the exporter's own endpoints, in the Prometheus exporter-toolkit web
       * config format (see src/server/web-config.ts). Relative paths inside it resolve against its folder.
       */
      webConfigFile: z.string().min(1, 'must be a file path').optional(),
      /** Token bucket per client address on /api (intake, lookup, list); requestsPerSecond 0 turns it off. */
      intakeRateLimit: z
        .strictObject({
          requestsPerSecond: z.number().min(0).max(1_000_000).default(100),
          burst: z.number().int().min(1).max(1_000_000).default(200),
        })
        .prefault({}),
    })
    .prefault({}),
  storage: z
    .strictObject({
      /** SQLite state file (the default backend); the default path applies when `postgres` is absent. */
      path: z.string().min(1).optional(),
      /** Several replicas on one PostgreSQL database (high availability): see README "High availability". */
      postgres: z
        .strictObject({
          /** libpq connection URI or key=value string, TLS options (sslmode, sslrootcert, …) included. */
          connectionString: z.string().min(1, 'must not be empty'),
          /** Default: the host name (the pod name on Kubernetes). Unique per running process. */
          replicaId: replicaIdSchema.optional(),
          poolSize: z.number().int().min(2).max(100).default(10),
        })
        .optional(),
      finishedRetention: duration.default('7d'),
    })
    .refine((storage) => storage.path === undefined || storage.postgres === undefined, {
      message: 'give exactly one of path (SQLite) and postgres (PostgreSQL)',
    })
    .prefault({}),
  azureNotificationHubs: z.array(azureNotificationHubSchema).default([]),
  everlive: z.array(everliveSchema).default([]),
});

export type RawConfig = z.infer<typeof configSchema>;

/**
 * Keys that may instead be given as `<key>File: /path` to read a secret (or any string) from a file.
 * Listed per section (a dotted name for a nested one) so a future key that really ends in "File" is
 * not mistaken for one.
 */
export const fileCapableKeys = {
  server: ['listen', 'apiTokens'],
  storage: ['path', 'finishedRetention'],
  'storage.postgres': ['connectionString', 'replicaId'],
  azureNotificationHubs: ['name', 'connectionString', 'hub', 'endpoint', 'apiVersion', 'notFoundDeadline', 'maxAge', 'scheduledMaxAge', 'requestTimeout'],
  everlive: ['name', 'endpoint', 'appId', 'masterKey', 'schedule', 'overlap', 'initialLookback', 'requestTimeout', 'logsPath', 'reasonField'],
} as const;
