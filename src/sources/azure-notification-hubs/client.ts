import { Pool, type Dispatcher } from 'undici';
import type { AzureNotificationHubTarget } from '../../config/load.js';
import type { Clock } from '../../time/clock.js';
import { readLimitedBody } from '../shared/read-body.js';
import { retryAfterMilliseconds } from '../shared/retry-after.js';
import { classifyTransportError } from '../shared/transport-errors.js';
import { UpstreamBodyError, UpstreamError, UpstreamHttpError } from '../shared/upstream-errors.js';
import { NotificationDetailsParseError, parseNotificationDetails, type NotificationDetails } from './notification-details.js';
import { SasTokenProvider } from './sas.js';

/** A valid answer: telemetry, or 404 "not there (yet)". Anything else is thrown as an UpstreamError. */
export type TelemetryAnswer =
  | { kind: 'details'; status: number; details: NotificationDetails }
  | { kind: 'not_found'; status: 404 };

// NotificationDetails is small; the body (up to 4 KB for APNs) and tags are the only large parts.
const maximumBodyBytes = 1024 * 1024;
const maximumErrorBodyBytes = 16 * 1024;

/**
 * Client for per-message telemetry:
 * GET {endpoint}/{hub}/messages/{notificationId}?api-version=... with a SAS token and x-ms-version.
 * https://learn.microsoft.com/rest/api/notificationhubs/get-notification-message-telemetry
 */
export class NotificationHubsClient {
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly tokens: SasTokenProvider;

  constructor(
    private readonly target: AzureNotificationHubTarget,
    private readonly clock: Clock,
  ) {
    const endpoint = new URL(target.endpoint);
    this.basePath = endpoint.pathname.replace(/\/+$/, '');
    this.pool = new Pool(endpoint.origin, {
      connections: target.concurrency,
      keepAliveTimeout: 30_000,
      headersTimeout: target.requestTimeoutMilliseconds,
      bodyTimeout: target.requestTimeoutMilliseconds,
      connectTimeout: Math.min(target.requestTimeoutMilliseconds, 10_000),
    });
    // Signed for the real namespace URI even when requests go to another endpoint (simulator, proxy).
    this.tokens = new SasTokenProvider({
      resourceUri: target.resourceUri,
      keyName: target.connection.sharedAccessKeyName,
      key: target.connection.sharedAccessKey,
      clock,
    });
  }

  async getNotificationDetails(notificationId: string): Promise<TelemetryAnswer> {
    const path =
      `${this.basePath}/${encodeURIComponent(this.target.hub)}/messages/${encodeURIComponent(notificationId)}` +
      `?api-version=${encodeURIComponent(this.target.apiVersion)}`;
    const response = await this.send(path);
    const status = response.statusCode;
    if (status === 404) {
      response.body.resume();
      return { kind: 'not_found', status };
    }
    if (status < 200 || status >= 300) {
      const detail = await readErrorDetail(response.body);
      throw new UpstreamHttpError(status, retryAfterMilliseconds(response.headers, this.clock.now()), detail);
    }
    const text = await this.readBody(response.body, String(status));
    try {
      return { kind: 'details', status, details: parseNotificationDetails(text) };
    } catch (error) {
      if (error instanceof NotificationDetailsParseError) {
        throw new UpstreamBodyError(`unusable NotificationDetails: ${error.message}`, String(status));
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private async send(path: string): Promise<Dispatcher.ResponseData> {
    try {
      return await this.pool.request({
        method: 'GET',
        path,
        headers: {
          authorization: this.tokens.authorizationHeader(),
          'x-ms-version': this.target.apiVersion,
          accept: 'application/xml',
          'user-agent': 'push-notification-exporter',
        },
        signal: AbortSignal.timeout(this.target.requestTimeoutMilliseconds),
      });
    } catch (error) {
      throw classifyTransportError(error);
    }
  }

  private async readBody(body: Dispatcher.ResponseData['body'], code: string): Promise<string> {
    try {
      return await readLimitedBody(body, maximumBodyBytes, code);
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      throw classifyTransportError(error);
    }
  }
}


/** Azure error bodies are `<Error><Code/><Detail/></Error>`; keep a short Detail for the log line. */
async function readErrorDetail(body: Dispatcher.ResponseData['body']): Promise<string | undefined> {
  let text: string;
  try {
    text = await readLimitedBody(body, maximumErrorBodyBytes, 'error');
  } catch {
    return undefined;
  }
  const detail = /<Detail>([^<]*)<\/Detail>/i.exec(text)?.[1] ?? '';
  const cleaned = detail.replace(/[^\x20-\x7e]/g, ' ').trim();
  return cleaned === '' ? undefined : cleaned.slice(0, 200);
}
