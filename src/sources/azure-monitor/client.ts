import type { TokenCredential } from '@azure/identity';
import { Pool } from 'undici';
import type { AzureMonitorTarget } from '../../config/load.js';
import type { Clock } from '../../time/clock.js';
import { requestJson } from '../shared/json-request.js';
import { classifyTokenError, createCredential, type Identity, type TrustOptions } from './credential.js';
import { armErrorDetail } from './metrics-answer.js';

/** What @azure/arm-monitor 7.x sends for metrics.list and metricDefinitions.list. */
export const metricsApiVersion = '2018-01-01';
// 20 metrics × 6 hours of minutes stay far below this.
const maximumBodyBytes = 16 * 1024 * 1024;

export interface JsonAnswer {
  status: number;
  body: unknown;
}

export interface MetricsQuery {
  names: readonly string[];
  /** Epoch milliseconds, both on a minute. */
  start: number;
  end: number;
}

export type AzureMonitorApi = Pick<AzureMonitorClient, 'listMetrics' | 'listMetricDefinitions'>;

/**
 * Reads a hub's platform metrics with the ARM metrics API (undici, with a bearer token from
 * @azure/identity for `{endpoint}/.default`):
 * GET {endpoint}{resourceId}/providers/Microsoft.Insights/metrics?api-version=…&metricnames=…&timespan=…&interval=PT1M&aggregation=Total
 * https://learn.microsoft.com/rest/api/monitor/metrics/list
 * The credential's secret and the token never leave this file except in the Authorization header.
 */
export class AzureMonitorClient {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly scope: string;
  private readonly credential: TokenCredential;

  constructor(
    private readonly target: AzureMonitorTarget,
    private readonly clock: Clock,
    /** Loaded by the source (loadIdentity), so a process without Azure Monitor targets never imports it. */
    private readonly identity: Identity,
    trust: TrustOptions = {},
    credential?: TokenCredential,
  ) {
    const endpoint = new URL(target.endpoint);
    this.basePath = `${endpoint.pathname.replace(/\/+$/, '')}${target.resourceId}`;
    this.scope = `${endpoint.origin}/.default`;
    this.credential = credential ?? createCredential(identity, target, trust);
    this.pool = new Pool(endpoint.origin, {
      connections: 2,
      keepAliveTimeout: 30_000,
      headersTimeout: target.requestTimeoutMilliseconds,
      bodyTimeout: target.requestTimeoutMilliseconds,
      connectTimeout: Math.min(target.requestTimeoutMilliseconds, 10_000),
      ...(trust.ca ? { connect: { ca: trust.ca } } : {}),
    });
  }

  listMetricDefinitions(): Promise<JsonAnswer> {
    return this.getJson(`${this.basePath}/providers/Microsoft.Insights/metricDefinitions?api-version=${metricsApiVersion}`);
  }

  listMetrics(query: MetricsQuery): Promise<JsonAnswer> {
    const parameters = [
      `api-version=${metricsApiVersion}`,
      `metricnames=${query.names.map((name) => encodeURIComponent(name)).join(',')}`,
      `timespan=${encodeURIComponent(`${isoMinute(query.start)}/${isoMinute(query.end)}`)}`,
      'interval=PT1M',
      'aggregation=Total',
    ];
    return this.getJson(`${this.basePath}/providers/Microsoft.Insights/metrics?${parameters.join('&')}`);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private async authorization(): Promise<string> {
    let token;
    try {
      token = await this.credential.getToken(this.scope, { abortSignal: AbortSignal.timeout(this.target.requestTimeoutMilliseconds) });
    } catch (error) {
      throw classifyTokenError(this.identity, error);
    }
    if (!token?.token) throw classifyTokenError(this.identity, new Error('no token'));
    return `Bearer ${token.token}`;
  }

  private async getJson(path: string): Promise<JsonAnswer> {
    const authorization = await this.authorization();
    const { status, body } = await requestJson({
      pool: this.pool,
      path,
      headers: { authorization },
      timeoutMilliseconds: this.target.requestTimeoutMilliseconds,
      maximumBodyBytes,
      now: this.clock.now(),
      errorDetail: armErrorDetail,
    });
    return { status, body };
  }
}

function isoMinute(time: number): string {
  return new Date(time).toISOString().replace('.000Z', 'Z');
}
