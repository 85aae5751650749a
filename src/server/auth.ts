import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/**
 * Bearer-token check for /api/v1. Tokens are compared as SHA-256 digests with timingSafeEqual, and
 * every configured token is compared every time, so timing says nothing about which or how much matched.
 *
 * A browser cannot send a bearer token, so reads (GET, HEAD: the lookup and list a dashboard's
 * exemplar link opens) also take the token as the password of HTTP Basic credentials (any user
 * name), and their 401 offers Basic too, which makes the browser ask for it. Writes stay bearer-only:
 * a browser replays cached Basic credentials on any request to the origin, so accepting them on POST
 * would let another site's form submit intake items.
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
    const read = request.method === 'GET' || request.method === 'HEAD';
    const challenge = (bearer: string) => (read ? [bearer, basicChallenge] : bearer);
    const token = presentedToken(request.get('authorization') ?? '', read);
    if (token === undefined) {
      response.set('WWW-Authenticate', challenge('Bearer')).status(401).json({ error: 'missing bearer token' });
      return;
    }
    const presented = digest(token);
    let matched = false;
    for (const candidate of digests) matched = timingSafeEqual(presented, candidate) || matched;
    if (!matched) {
      response.set('WWW-Authenticate', challenge('Bearer error="invalid_token"')).status(401).json({ error: 'invalid bearer token' });
      return;
    }
    next();
  };
}

// Not the realm of basic_auth_users (web-security.ts), so a browser keeps the two passwords apart.
const basicChallenge = 'Basic realm="push-notification-exporter API token", charset="UTF-8"';

/** The bearer token, or on reads the password of Basic credentials (RFC 7617: base64 of user:password). */
function presentedToken(header: string, read: boolean): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = read ? /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header) : null;
  if (!basic) return undefined;
  const credentials = Buffer.from(basic[1] as string, 'base64').toString('utf8');
  const colon = credentials.indexOf(':');
  return colon < 0 || colon === credentials.length - 1 ? undefined : credentials.slice(colon + 1);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
