import type { Dispatcher, Pool } from 'undici';
import { readLimitedBody } from './read-body.js';
import { retryAfterMilliseconds } from './retry-after.js';
import { classifyTransportError } from './transport-errors.js';
import { UpstreamBodyError, UpstreamHttpError } from './upstream-errors.js';

export interface JsonRequest {
  pool: Pool;
  path: string;
  headers: Record<string, string>;
  timeoutMilliseconds: number;
  maximumBodyBytes: number;
  /** Wall-clock now, for an HTTP-date Retry-After without a Date header. */
  now: number;
  /** A short, secret-free excerpt of the upstream's error document. */
  errorDetail: (text: string) => string | undefined;
}

/**
 * One GET of a JSON document, shared by the JSON upstreams (Everlive, Azure Monitor): transport
 * errors, a body over the limit, a non-2xx status and an unparseable body come back as the typed
 * errors the poll loop understands.
 */
export async function requestJson(options: JsonRequest): Promise<{ status: number; body: unknown; headers: Dispatcher.ResponseData['headers'] }> {
  let response: Dispatcher.ResponseData;
  try {
    response = await options.pool.request({
      method: 'GET',
      path: options.path,
      headers: { accept: 'application/json', 'user-agent': 'push-notification-exporter', ...options.headers },
      signal: AbortSignal.timeout(options.timeoutMilliseconds),
    });
  } catch (error) {
    throw classifyTransportError(error);
  }
  const status = response.statusCode;
  let text: string;
  try {
    text = await readLimitedBody(response.body, options.maximumBodyBytes, String(status));
  } catch (error) {
    throw classifyTransportError(error);
  }
  if (status < 200 || status >= 300) {
    throw new UpstreamHttpError(status, retryAfterMilliseconds(response.headers, options.now), options.errorDetail(text));
  }
  try {
    return { status, body: JSON.parse(text) as unknown, headers: response.headers };
  } catch {
    throw new UpstreamBodyError('response body is not valid JSON', String(status));
  }
}
