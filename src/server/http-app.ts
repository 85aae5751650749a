import express, { type NextFunction, type Request, type Response } from 'express';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../logging/logger.js';
import type { ExemplarStore } from '../metrics/exemplars.js';
import { ScrapeRenderer, type ScrapeSegment } from '../metrics/scrape-renderer.js';
import { bearerTokenAuth } from './auth.js';
import { intakeRoutes, type IntakeDependencies } from './intake-routes.js';
import { ClientRateLimiter, clientKey, type RateLimitSettings } from './rate-limit.js';
import { negotiateScrapeFormat } from './scrape-format.js';
import { gzipSegments } from './scrape-gzip.js';
import { basicAuthGate, responseHeaders, WebSecurity } from './web-security.js';

export interface HttpAppOptions extends IntakeDependencies {
  registry: Registry;
  exemplars: ExemplarStore;
  apiTokens: readonly string[];
  maxRequestBodyBytes: number;
  isReady: () => boolean;
  logger: Logger;
  version: string;
  /** Basic auth and response headers from the web config (none: open, as before). */
  security?: WebSecurity;
  /** Per-client token bucket on /api (absent or requestsPerSecond 0: no limit). */
  intakeRateLimit?: RateLimitSettings;
  /** The README as HTML (readme-page.ts), served at /readme for the alerts' runbook links; absent: 404. */
  readmePage?: string;
}

export const refusedRequestsMetric = 'push_notification_http_requests_refused_total';

/** /metrics, /-/healthy, /-/ready and the /api/v1 intake and lookup API. */
export function createHttpApp(options: HttpAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const refused = new Counter({
    name: refusedRequestsMetric,
    help: 'Requests to the exporter refused before reaching an endpoint: rate_limited (per-client limit on /api), unauthorized (basic auth), auth_busy (too many bcrypt checks queued).',
    labelNames: ['reason'],
    registers: [options.registry],
  });
  for (const reason of ['rate_limited', 'unauthorized', 'auth_busy']) refused.inc({ reason }, 0);
  const security = options.security ?? new WebSecurity(undefined);
  app.use(responseHeaders(security));
  app.use(basicAuthGate(security, (reason) => refused.inc({ reason: reason === 'busy' ? 'auth_busy' : 'unauthorized' })));

  app.get('/', (_request, response) => {
    response.type('html').send(landingPage(options.version));
  });
  app.get('/readme', (_request, response) => {
    if (options.readmePage === undefined) response.status(404).type('text').send('README.md is not installed next to the exporter\n');
    else response.type('html').send(options.readmePage);
  });
  const renderer = new ScrapeRenderer(options.registry, options.exemplars);
  app.get('/metrics', (request, response, next) => {
    // Renders in-memory state only: no upstream is called during a scrape. OpenMetrics (with
    // exemplars) when the scraper asks for it, the plain text format otherwise.
    const chosen = negotiateScrapeFormat(request.get('accept'));
    // At the label caps a scrape is over a megabyte; Prometheus always offers gzip.
    const gzip = request.acceptsEncodings('gzip', 'identity') === 'gzip';
    response.set('Vary', 'Accept, Accept-Encoding');
    renderer
      .render(chosen.format)
      .then(async (segments) => {
        response.set('Content-Type', chosen.contentType);
        if (!gzip) {
          sendSegments(response, segments);
          return;
        }
        response.set('Content-Encoding', 'gzip').send(await gzipSegments(segments));
      })
      .catch(next);
  });
  app.get('/-/healthy', (_request, response) => {
    response.type('text').send('OK');
  });
  app.get('/-/ready', (_request, response) => {
    if (options.isReady()) response.type('text').send('OK');
    else response.status(503).type('text').send('not ready');
  });

  // The limit comes first, so that refused credentials count against it too (token guessing).
  const limiter = new ClientRateLimiter(options.intakeRateLimit ?? { requestsPerSecond: 0, burst: 1 });
  if (limiter.enabled) {
    const { requestsPerSecond, burst } = options.intakeRateLimit as RateLimitSettings;
    app.use('/api', (request, response, next) => {
      const decision = limiter.take(clientKey(request.socket.remoteAddress));
      if (decision.allowed) {
        next();
        return;
      }
      refused.inc({ reason: 'rate_limited' });
      response
        .set('Retry-After', String(decision.retryAfterSeconds))
        .status(429)
        .json({
          error: `too many requests from this client (at most ${requestsPerSecond} per second, bursts of ${burst}: server.intakeRateLimit); retry after ${decision.retryAfterSeconds} s`,
        });
    });
  }
  app.use('/api/v1', bearerTokenAuth(options.apiTokens), intakeRoutes(options));
  app.use('/api', (_request, response) => {
    response.status(404).json({ error: 'no such API endpoint' });
  });
  app.use((_request, response) => {
    response.status(404).type('text').send('not found');
  });
  app.use(errorHandler(options.logger));
  return app;
}

/**
 * The segments written one after another (one writev): never joined into one megabyte string or
 * Buffer first, which cost more than rendering (a fresh large allocation is paged in on every scrape).
 */
function sendSegments(response: Response, segments: readonly ScrapeSegment[]): void {
  let length = 0;
  for (const { bytes } of segments) length += bytes.length;
  response.set('Content-Length', String(length));
  response.cork();
  for (const { bytes } of segments) response.write(bytes);
  response.end();
  response.uncork();
}

function errorHandler(logger: Logger) {
  return (error: unknown, request: Request, response: Response, _next: NextFunction): void => {
    const status = (error as { status?: number; statusCode?: number }).status ?? (error as { statusCode?: number }).statusCode;
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') {
      response.status(413).json({ error: 'request body is too large' });
    } else if (type === 'entity.parse.failed') {
      response.status(400).json({ error: 'request body is not valid JSON', items: [] });
    } else if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
      response.status(415).json({ error: 'request body must be UTF-8 JSON' });
    } else if (status !== undefined && status >= 400 && status < 500) {
      response.status(status).json({ error: 'bad request' });
    } else {
      logger.error({ path: request.path, error: String(error) }, 'request failed');
      response.status(500).json({ error: 'internal error' });
    }
  };
}

function landingPage(version: string): string {
  return `<!doctype html><html><head><title>push-notification-exporter</title></head><body>
<h1>push-notification-exporter ${version}</h1>
<ul><li><a href="metrics">metrics</a></li><li><a href="-/healthy">healthy</a></li><li><a href="-/ready">ready</a></li><li><a href="readme#runbooks">README and runbooks</a></li></ul>
</body></html>`;
}
