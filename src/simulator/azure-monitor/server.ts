import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../time/clock.js';
import { HubMetrics, simulatedMetricNames, type Visibility } from './hub-metrics.js';

export interface ServicePrincipal {
  clientId: string;
  clientSecret: string;
}

export interface AzureMonitorSimulatorOptions {
  tls: { cert: string; key: string };
  tenantId: string;
  principals: ServicePrincipal[];
  /** Hub resource IDs (/subscriptions/…/notificationHubs/HUB) whose metrics exist. */
  hubs: string[];
  clock?: Clock;
  visibility?: Partial<Visibility>;
}

const minuteMilliseconds = 60_000;
const apiVersions = new Set(['2018-01-01', '2024-02-01']);

/**
 * A fake Microsoft Entra ID (client-credentials token endpoint and its OpenID discovery document)
 * and a fake ARM metrics API for hubs, on one https origin (127.0.0.1, a throwaway certificate):
 * - GET  /{tenant}/v2.0/.well-known/openid-configuration, whose issuer has this origin
 *        (MSAL compares it with the authority's scheme, host and port);
 * - POST /{tenant}/oauth2/v2.0/token (grant_type=client_credentials): 401 invalid_client for a
 *        wrong (AADSTS7000215) or expired (AADSTS7000222) secret, 400 unauthorized_client for an
 *        unknown client (AADSTS700016), as Entra ID answers;
 * - GET  {resourceId}/providers/Microsoft.Insights/metricDefinitions and …/metrics (bearer token
 *        from the endpoint above; 401 InvalidAuthenticationToken otherwise, 403 AuthorizationFailed
 *        when the principal has no role on the hub, 429 with Retry-After when told to throttle).
 * Minutes show late: no total at first, optionally a partial total, then the final one.
 */
export class AzureMonitorSimulator {
  readonly metrics: HubMetrics;
  readonly requests = { token: 0, definitions: 0, metrics: 0, throttled: 0 };
  /** Every metrics query answered: names and timespan, for tests to check batching and windows. */
  readonly queries: { names: string[]; start: number; end: number }[] = [];
  private readonly server: Server;
  private readonly clock: Clock;
  private readonly visibility: Visibility;
  private readonly tokens = new Map<string, string>();
  private readonly expired = new Set<string>();
  private readonly forbidden = new Set<string>();
  /**
   * What expires_in says. MSAL renews a token 5 minutes before it expires, so a lifetime under that
   * makes every getToken ask the token endpoint (tests of expiring secrets).
   */
  tokenLifetimeSeconds = 3599;
  private throttleLeft = 0;
  private throttleSeconds = 0;

  constructor(private readonly options: AzureMonitorSimulatorOptions) {
    this.clock = options.clock ?? systemClock;
    this.metrics = new HubMetrics(options.hubs);
    this.visibility = { noTotalMilliseconds: 2 * minuteMilliseconds, partialMilliseconds: 0, ...options.visibility };
    this.server = createServer({ cert: options.tls.cert, key: options.tls.key }, (request, response) => {
      this.handle(request, response).catch(() => send(response, 500, { error: { code: 'InternalServerError', message: 'simulator error' } }));
    });
  }

  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(port = 0): Promise<string> {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return this.url;
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** The next `count` metrics requests answer 429 with `Retry-After: seconds`. */
  throttle(count: number, seconds: number): void {
    this.throttleLeft = count;
    this.throttleSeconds = seconds;
  }

  /** The principal's secret expires: token requests fail; tokens already issued work until they expire. */
  expireSecret(clientId: string): void {
    this.expired.add(clientId);
  }

  /** The principal loses (or regains) its Monitoring Reader role on every hub. */
  setForbidden(clientId: string, forbidden: boolean): void {
    if (forbidden) this.forbidden.add(clientId);
    else this.forbidden.delete(clientId);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // Both official client versions send //subscriptions/… when resourceId starts with /, which
    // new URL() would read as a host: collapse the leading slashes first.
    const url = new URL((request.url ?? '/').replace(/^\/+/, '/'), this.url);
    const path = url.pathname;
    const tenant = this.options.tenantId;
    if (request.method === 'GET' && path === `/${tenant}/v2.0/.well-known/openid-configuration`) return this.discovery(response);
    if (request.method === 'POST' && path === `/${tenant}/oauth2/v2.0/token`) return this.token(await readBody(request), response);
    const match = /^(\/subscriptions\/.+\/providers\/Microsoft\.NotificationHubs\/namespaces\/[^/]+\/notificationHubs\/[^/]+)\/providers\/Microsoft\.Insights\/(metrics|metricDefinitions)$/i.exec(path);
    if (request.method === 'GET' && match) return this.arm(request, url, match[1] as string, (match[2] as string).toLowerCase(), response);
    if (/^\/[^/]+\/(v2\.0|oauth2)/.test(path)) {
      return send(response, 400, { error: 'invalid_tenant', error_description: 'AADSTS90002: Tenant not found.', error_codes: [90002] });
    }
    send(response, 404, { error: { code: 'NotFound', message: `no such route in the simulator: ${request.method ?? ''} ${path}` } });
  }

  private discovery(response: ServerResponse): void {
    const base = `${this.url}/${this.options.tenantId}`;
    send(response, 200, {
      issuer: `${base}/v2.0`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      jwks_uri: `${this.url}/${this.options.tenantId}/discovery/v2.0/keys`,
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
    });
  }

  private token(body: string, response: ServerResponse): void {
    this.requests.token += 1;
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') {
      return send(response, 400, entraError('unsupported_grant_type', 70003, 'The app requested an unsupported grant type.'));
    }
    const clientId = form.get('client_id') ?? '';
    const principal = this.options.principals.find((candidate) => candidate.clientId === clientId);
    if (!principal) return send(response, 400, entraError('unauthorized_client', 700016, 'Application was not found in the directory.'));
    if (this.expired.has(clientId)) return send(response, 401, entraError('invalid_client', 7000222, 'The provided client secret keys are expired.'));
    if (form.get('client_secret') !== principal.clientSecret) {
      return send(response, 401, entraError('invalid_client', 7000215, 'Invalid client secret provided.'));
    }
    if (!/\/\.default$/.test(form.get('scope') ?? '')) return send(response, 400, entraError('invalid_scope', 1002012, 'The provided value for scope is not valid.'));
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, clientId);
    send(response, 200, { token_type: 'Bearer', expires_in: this.tokenLifetimeSeconds, ext_expires_in: this.tokenLifetimeSeconds, access_token: token });
  }

  private arm(request: IncomingMessage, url: URL, resourceId: string, kind: string, response: ServerResponse): void {
    const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    const clientId = token ? this.tokens.get(token) : undefined;
    if (!clientId) {
      response.setHeader('www-authenticate', 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"');
      return send(response, 401, { error: { code: 'InvalidAuthenticationToken', message: 'The access token is invalid.' } });
    }
    if (!this.metrics.has(resourceId)) return send(response, 404, { error: { code: 'ResourceNotFound', message: 'The Resource was not found.' } });
    if (this.forbidden.has(clientId)) {
      return send(response, 403, { error: { code: 'AuthorizationFailed', message: `The client '${clientId}' does not have authorization to perform action 'microsoft.insights/metrics/read'.` } });
    }
    if (!apiVersions.has(url.searchParams.get('api-version') ?? '')) {
      return send(response, 400, { code: 'BadRequest', message: 'The api-version is not supported.' });
    }
    if (kind === 'metricdefinitions') {
      this.requests.definitions += 1;
      return send(response, 200, { value: simulatedMetricNames.map((name) => ({ name: { value: name, localizedValue: name }, unit: 'Count', primaryAggregationType: 'Total', metricAvailabilities: [{ timeGrain: 'PT1M', retention: 'P93D' }] })) });
    }
    if (this.throttleLeft > 0) {
      this.throttleLeft -= 1;
      this.requests.throttled += 1;
      response.setHeader('retry-after', String(this.throttleSeconds));
      return send(response, 429, { code: 'TooManyRequests', message: 'Too many requests. Retry later.' });
    }
    this.requests.metrics += 1;
    this.metricsAnswer(url, resourceId, response);
  }

  private metricsAnswer(url: URL, resourceId: string, response: ServerResponse): void {
    const names = (url.searchParams.get('metricnames') ?? '').split(',').filter((name) => name !== '');
    if (names.length === 0 || names.length > 20) return send(response, 400, { code: 'BadRequest', message: 'Between 1 and 20 metric names are allowed.' });
    const unknown = names.filter((name) => !simulatedMetricNames.includes(name));
    if (unknown.length > 0) return send(response, 400, { code: 'BadRequest', message: `Failed to find metric configuration for metric: ${unknown.join(',')}` });
    if (url.searchParams.get('interval') !== 'PT1M' || url.searchParams.get('aggregation') !== 'Total') {
      return send(response, 400, { code: 'BadRequest', message: 'Only interval PT1M with aggregation Total is simulated.' });
    }
    const [startText, endText] = (url.searchParams.get('timespan') ?? '').split('/');
    const start = Date.parse(startText ?? '');
    const end = Date.parse(endText ?? '');
    if (Number.isNaN(start) || Number.isNaN(end) || end <= start) return send(response, 400, { code: 'BadRequest', message: 'Invalid timespan.' });
    this.queries.push({ names, start, end });
    const now = this.clock.now();
    const first = Math.ceil(start / minuteMilliseconds) * minuteMilliseconds;
    const value = names.map((name) => {
      const data: { timeStamp: string; total?: number }[] = [];
      // Minutes that have not begun are not in the answer; the current one is, without a total.
      for (let minute = first; minute < end && minute <= now; minute += minuteMilliseconds) {
        const total = this.metrics.shownTotal(resourceId, name, minute, now, this.visibility);
        data.push(total === undefined ? { timeStamp: iso(minute) } : { timeStamp: iso(minute), total });
      }
      return {
        id: `${resourceId}/providers/Microsoft.Insights/metrics/${name}`,
        type: 'Microsoft.Insights/metrics',
        name: { value: name, localizedValue: name },
        unit: 'Count',
        timeseries: data.length > 0 ? [{ metadatavalues: [], data }] : [],
        errorCode: 'Success',
      };
    });
    send(response, 200, { cost: 0, timespan: `${iso(start)}/${iso(end)}`, interval: 'PT1M', value, namespace: 'Microsoft.NotificationHubs/namespaces/notificationHubs', resourceregion: 'westeurope' });
  }
}

function entraError(error: string, code: number, description: string): Record<string, unknown> {
  const now = new Date().toISOString().replace('T', ' ').replace(/\..*/, 'Z');
  return {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: 00000000-0000-0000-0000-000000000000 Correlation ID: 00000000-0000-0000-0000-000000000000 Timestamp: ${now}`,
    error_codes: [code],
    timestamp: now,
    trace_id: '00000000-0000-0000-0000-000000000000',
    correlation_id: '00000000-0000-0000-0000-000000000000',
  };
}

function iso(time: number): string {
  return new Date(time).toISOString().replace('.000Z', 'Z');
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), date: new Date().toUTCString() });
  response.end(text);
}
