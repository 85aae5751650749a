import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/**
 * Bearer-token check for /api/v1. Tokens are compared as SHA-256 digests with timingSafeEqual, and
 * every configured token is compared every time, so timing says nothing about which or how much matched.
 */
export function bearerTokenAuth(tokens: readonly string[]) {
  const digests = tokens.map(digest);
  return (request: Request, response: Response, next: NextFunction): void => {
    if (digests.length === 0) {
      response.status(403).json({ error: 'the intake API is not configured: set server.apiTokens' });
      return;
    }
    const query = request.query as Record<string, unknown>;
    if (['token', 'access_token', 'apiToken'].some((name) => name in query)) {
      response.status(401).json({ error: 'tokens are not accepted in the query string; use the Authorization header' });
      return;
    }
    const header = request.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      response.set('WWW-Authenticate', 'Bearer').status(401).json({ error: 'missing bearer token' });
      return;
    }
    const presented = digest(match[1] as string);
    let matched = false;
    for (const candidate of digests) matched = timingSafeEqual(presented, candidate) || matched;
    if (!matched) {
      response.set('WWW-Authenticate', 'Bearer error="invalid_token"').status(401).json({ error: 'invalid bearer token' });
      return;
    }
    next();
  };
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
