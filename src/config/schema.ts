import { validate as validateCron } from 'node-cron';
import { z } from 'zod';
import { isLoopback } from '../net/loopback.js';
import { parseDuration } from '../time/duration.js';
import { cronRangeProblem } from './cron-fields.js';

/**
 * The YAML config file, validated strictly: unknown keys are errors, every key has a documented default.
 * Contract: ../shared/design.md "Config file". Secrets may come from `<key>File` (see load.ts).
 */
const targetName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -');

/** The replica's name in the database: its counter totals are kept under it. */
export const replicaIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -');

const durationExamples = 'examples: 500ms, 10s, 30m, 2h, 7d';

/** A bare number (`maxAge: 120`) could mean seconds or minutes: say that a unit is needed, with that number. */
const duration = z
  .string({
    error: (issue) =>
      typeof issue.input === 'number' ? `${issue.input} has no unit: durations need one (${issue.input}s, ${issue.input}m, ...; ${durationExamples})` : undefined,
  })
  .superRefine((text, context) => {
    if (parseDuration(text) !== undefined) return;
    const bare = /^\s*\d+(\.\d+)?\s*$/.test(text);
    context.addIssue({
      code: 'custom',
      message: bare ? `"${text}" has no unit: durations need one (${text.trim()}s, ${text.trim()}m, ...; ${durationExamples})` : `is not a duration (${durationExamples})`,
    });
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
      allowedHosts: z
        .array(
          z
            .string()
            .regex(/^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:]+\](:\d{1,5})?$/, 'must be a host or host:port')
            .refine((entry) => !isLoopback(entry.replace(/^\[|\]$/g, '').toLowerCase()), {
              // A loopback entry without a port matches only https on 443; a local blob server speaks
              // plain http, which is allowed only for a loopback host listed with its port.
              message: 'a loopback host needs its port (as 127.0.0.1:10000): without one it never matches a local blob server',
            }),
        )
        .default(['*.blob.core.windows.net']),
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
    .superRefine((expression, context) => {
      const outOfRange = cronRangeProblem(expression);
      if (outOfRange) context.addIssue({ code: 'custom', message: outOfRange });
      else if (!validateCron(expression)) context.addIssue({ code: 'custom', message: 'is not a valid cron expression (node-cron, 5 or 6 fields)' });
    })
    .default('0 * * * * *'),
  pageSize: z.number().int().min(1).max(500).default(100),
  overlap: duration.default('1m'),
  initialLookback: duration.default('24h'),
  requestTimeout: duration.default('10s'),
  logsPath: z.string().regex(/^[^?#]*\{id\}[^?#]*$/, 'must be a path containing {id}').optional(),
  reasonField: z.string().min(1).optional(),
}).superRefine((app, context) => {
  // The reason is read from the logs: without logsPath there are none to read it from.
  if (app.reasonField !== undefined && app.logsPath === undefined) {
    context.addIssue({ code: 'custom', path: ['reasonField'], message: 'needs logsPath: the reason is read from the logs of a failed notification' });
  }
});

function atLeast(minimum: string) {
  const bound = parseDuration(minimum) as number;
  return duration.refine((text) => (parseDuration(text) ?? 0) >= bound, { message: `must be at least ${minimum}` });
}

const httpsUrl = httpUrl.refine((text) => text.startsWith('https://'), {
  message: 'must be an https:// URL (bearer tokens are never sent over plain http)',
});

/**
 * Azure Monitor platform metrics of one hub (issue 14). Without clientSecret the credential is a
 * workload identity (AZURE_FEDERATED_TOKEN_FILE) or, failing that, the machine's managed identity.
 */
export const azureMonitorSchema = z
  .strictObject({
    name: targetName,
    resourceId: z
      .string()
      .regex(
        /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.NotificationHubs\/namespaces\/[^/]+\/notificationHubs\/[^/]+$/i,
        'must be /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.NotificationHubs/namespaces/NS/notificationHubs/HUB',
      ),
    tenantId: z.string().regex(/^[A-Za-z0-9.-]{1,128}$/, 'must be a tenant ID (a GUID or a domain)').optional(),
    clientId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a client (application) ID').optional(),
    clientSecret: z.string().min(1, 'must not be empty').optional(),
    endpoint: httpsUrl.default('https://management.azure.com'),
    authorityHost: httpsUrl.default('https://login.microsoftonline.com'),
    // The data has a one-minute grain and subscription reads are limited: never faster than that.
    interval: atLeast('1m').default('1m'),
    settleDelay: atLeast('1m').default('5m'),
    initialLookback: duration
      .refine((text) => (parseDuration(text) ?? 0) <= 30 * 86_400_000, { message: 'must be at most 30d' })
      .default('1h'),
    requestTimeout: duration.default('30s'),
  })
  .refine((target) => target.clientSecret === undefined || (target.tenantId !== undefined && target.clientId !== undefined), {
    message: 'clientSecret needs tenantId and clientId',
    path: ['clientSecret'],
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
  azureMonitor: z.array(azureMonitorSchema).default([]),
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
  azureMonitor: ['name', 'resourceId', 'tenantId', 'clientId', 'clientSecret', 'endpoint', 'authorityHost', 'interval', 'settleDelay', 'initialLookback', 'requestTimeout'],
} as const;
