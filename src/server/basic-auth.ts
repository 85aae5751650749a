import { createHash, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';

export type BasicAuthResult = 'ok' | 'denied' | 'busy';

export interface BasicAuthOptions {
  /** bcrypt comparison (replaceable in tests to count calls). */
  compare?: (password: string, hash: string) => Promise<boolean>;
  /** Results remembered, by user, hash and password digest (bcrypt is slow by design). */
  cacheSize?: number;
  /** Checks waiting for the bcrypt lane before new ones are refused as busy. */
  maxWaiting?: number;
}

/**
 * HTTP basic auth against bcrypt hashes, as exporter-toolkit does it:
 * - the user name is found by comparing SHA-256 digests with timingSafeEqual against every configured
 *   user (no early exit), and an unknown user is checked against a dummy hash of the same cost, so
 *   timing tells neither which users exist nor how much of a name matched;
 * - bcrypt runs one check at a time (bounded CPU: a flood of guesses cannot starve scrapes), and at
 *   most `maxWaiting` checks queue; beyond that the answer is "busy" (429);
 * - results are cached (bounded) by a digest of user, hash and password, so a scraper presenting the
 *   right password pays for bcrypt once, and a repeated wrong guess costs nothing either.
 */
export class BasicAuthenticator {
  private readonly users: { digest: Buffer; hash: string }[];
  private readonly dummyHash: string;
  private readonly compare: (password: string, hash: string) => Promise<boolean>;
  private readonly cache = new Map<string, boolean>();
  private readonly cacheSize: number;
  private readonly maxWaiting: number;
  private lane: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(users: ReadonlyMap<string, string>, options: BasicAuthOptions = {}) {
    this.users = [...users].map(([user, hash]) => ({ digest: sha256(user), hash }));
    const cost = users.size > 0 ? bcrypt.getRounds([...users.values()][0] as string) : 10;
    // Never matches (no password hashes to 31 dots), but costs as much as a real check.
    this.dummyHash = `${bcrypt.genSaltSync(cost)}${'.'.repeat(31)}`;
    this.compare = options.compare ?? ((password, hash) => bcrypt.compare(password, hash));
    this.cacheSize = options.cacheSize ?? 1024;
    this.maxWaiting = options.maxWaiting ?? 16;
  }

  get enabled(): boolean {
    return this.users.length > 0;
  }

  /** Checks an Authorization header value. */
  async check(header: string | undefined): Promise<BasicAuthResult> {
    const credentials = parseBasicCredentials(header);
    if (!credentials) return 'denied';
    const presented = sha256(credentials.user);
    let hash = this.dummyHash;
    let known = false;
    for (const user of this.users) {
      const same = timingSafeEqual(presented, user.digest);
      if (same) hash = user.hash;
      known = same || known;
    }
    const key = createHash('sha256').update(`${credentials.user}\u0000${hash}\u0000${credentials.password}`, 'utf8').digest('base64');
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached && known ? 'ok' : 'denied';
    if (this.waiting >= this.maxWaiting) return 'busy';
    this.waiting += 1;
    const result = this.lane.then(() => this.compare(credentials.password, hash).catch(() => false));
    this.lane = result;
    let matched: boolean;
    try {
      matched = await result;
    } finally {
      this.waiting -= 1;
    }
    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, matched);
    return matched && known ? 'ok' : 'denied';
  }
}

/** `Basic base64(user:password)`; the password may contain colons, the user name may not. */
export function parseBasicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic[ \t]+([A-Za-z0-9+/]+=*)[ \t]*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
