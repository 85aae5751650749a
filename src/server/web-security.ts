import type { NextFunction, Request, Response } from 'express';
import { BasicAuthenticator, type BasicAuthOptions } from './basic-auth.js';
import type { WebConfig } from './web-config.js';

/**
 * The web config in force (it can be reloaded while running): response headers and basic auth.
 * Middlewares read it on every request, so a reload applies to the next request.
 */
export class WebSecurity {
  private current: WebConfig | undefined;
  private auth: BasicAuthenticator | undefined;

  constructor(
    config: WebConfig | undefined,
    private readonly authOptions: BasicAuthOptions = {},
  ) {
    this.replace(config);
  }

  get config(): WebConfig | undefined {
    return this.current;
  }

  get authenticator(): BasicAuthenticator | undefined {
    return this.auth;
  }

  replace(config: WebConfig | undefined): void {
    this.current = config;
    const users = config?.basicAuthUsers;
    this.auth = users && users.size > 0 ? new BasicAuthenticator(users, this.authOptions) : undefined;
  }
}

/** The health endpoints stay open for probes (kubelet, load balancers, Docker HEALTHCHECK). */
export function isOpenPath(path: string): boolean {
  const normalised = path.toLowerCase().replace(/\/+$/, '');
  return normalised === '/-/healthy' || normalised === '/-/ready';
}

/** /api has its own credentials (bearer tokens); express matches paths case-insensitively, so do we. */
export function isApiPath(path: string): boolean {
  return /^\/api(\/|$)/i.test(path);
}

/** Adds the configured headers (http_server_config.headers) to every response. */
export function responseHeaders(security: WebSecurity) {
  return (_request: Request, response: Response, next: NextFunction): void => {
    const headers = security.config?.headers;
    if (headers) for (const [name, value] of Object.entries(headers)) response.set(name, value);
    next();
  };
}

/**
 * Basic auth (basic_auth_users) on everything but the health endpoints and /api: default deny, so
 * /metrics, the landing page and unknown paths all need it. /api keeps its bearer tokens instead:
 * one Authorization header cannot carry both, and scrape credentials must not grant intake rights.
 */
export function basicAuthGate(security: WebSecurity, onRefused: (reason: 'unauthorized' | 'busy') => void) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const authenticator = security.authenticator;
    if (!authenticator || isOpenPath(request.path) || isApiPath(request.path)) {
      next();
      return;
    }
    authenticator.check(request.get('authorization')).then(
      (result) => {
        if (result === 'ok') {
          next();
          return;
        }
        onRefused(result === 'busy' ? 'busy' : 'unauthorized');
        if (result === 'busy') {
          response.set('Retry-After', '1').status(429).type('text').send('too many authentication attempts in progress; retry later\n');
          return;
        }
        response.set('WWW-Authenticate', 'Basic realm="push-notification-exporter", charset="UTF-8"').status(401).type('text').send('Unauthorized\n');
      },
      (error: unknown) => next(error),
    );
  };
}
