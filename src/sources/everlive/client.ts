import { Pool } from 'undici';
import type { EverliveTarget } from '../../config/load.js';
import type { Clock } from '../../time/clock.js';
import { requestJson } from '../shared/json-request.js';

export interface ListQuery {
  filter: unknown;
  sort: unknown;
  skip: number;
  take: number;
}

export interface JsonAnswer {
  status: number;
  body: unknown;
  /** The answer's `Date` header (epoch milliseconds), when present and a valid HTTP date. */
  serverDate?: number;
}

// 500 notifications with feedback for every platform stay far below this.
const maximumBodyBytes = 16 * 1024 * 1024;

/**
 * Client for the Everlive (Telerik Backend Services) push-notification administration API:
 * GET {endpoint}/{appId}/Push/Notifications with `Authorization: Masterkey <key>` and the query
 * headers X-Everlive-Filter / -Sort / -Skip / -Take.
 * https://docs.telerik.com/platform/backend-services/rest/administration-api/push-notifications/push-read
 */
export class EverliveClient {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    private readonly target: EverliveTarget,
    private readonly clock: Clock,
  ) {
    const endpoint = new URL(target.endpoint);
    this.basePath = `${endpoint.pathname.replace(/\/+$/, '')}/${encodeURIComponent(target.appId)}`;
    this.pool = new Pool(endpoint.origin, {
      connections: 2,
      keepAliveTimeout: 30_000,
      headersTimeout: target.requestTimeoutMilliseconds,
      bodyTimeout: target.requestTimeoutMilliseconds,
      connectTimeout: Math.min(target.requestTimeoutMilliseconds, 10_000),
    });
  }

  listNotifications(query: ListQuery): Promise<JsonAnswer> {
    return this.getJson(`${this.basePath}/Push/Notifications`, {
      'x-everlive-filter': JSON.stringify(query.filter),
      'x-everlive-sort': JSON.stringify(query.sort),
      'x-everlive-skip': String(query.skip),
      'x-everlive-take': String(query.take),
    });
  }

  /** Reads the delivery log of one notification from the configured `logsPath` template. */
  getLogs(logsPath: string, notificationId: string): Promise<JsonAnswer> {
    const path = logsPath.replace(/^\/+/, '').replace('{id}', encodeURIComponent(notificationId));
    return this.getJson(`${this.basePath}/${path}`, {});
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private async getJson(path: string, headers: Record<string, string>): Promise<JsonAnswer> {
    const answer = await requestJson({
      pool: this.pool,
      path,
      headers: { authorization: `Masterkey ${this.target.masterKey}`, ...headers },
      timeoutMilliseconds: this.target.requestTimeoutMilliseconds,
      maximumBodyBytes,
      now: this.clock.now(),
      errorDetail: everliveErrorDetail,
    });
    return { status: answer.status, body: answer.body, serverDate: httpDate(answer.headers.date) };
  }
}

/** An HTTP `Date` header (IMF-fixdate, or the obsolete forms Date.parse also reads). */
function httpDate(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const time = Date.parse(text);
  return Number.isNaN(time) ? undefined : time;
}

/** Everlive errors are `{"message": "...", "errorCode": n}`; keep a short, printable excerpt. */
function everliveErrorDetail(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { message?: unknown; errorCode?: unknown };
    const message = typeof body.message === 'string' ? body.message.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200) : undefined;
    const code = typeof body.errorCode === 'number' ? `errorCode ${body.errorCode}` : undefined;
    return [code, message].filter(Boolean).join(': ') || undefined;
  } catch {
    return undefined;
  }
}
