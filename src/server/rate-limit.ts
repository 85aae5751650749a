import { performance } from 'node:perf_hooks';
import { isIPv6 } from 'node:net';

export interface RateLimitSettings {
  /** Sustained requests per second per client; 0 turns the limit off. */
  requestsPerSecond: number;
  /** Requests a client may make at once before the sustained rate applies. */
  burst: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per client: `burst` tokens, refilled at `requestsPerSecond`, one per request. The
 * map of clients is bounded (least recently seen forgotten first): a client forgotten under a flood
 * of addresses simply starts again with a full bucket. Time is monotonic (performance.now), never the
 * wall clock.
 */
export class ClientRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxClients: number;
  private readonly now: () => number;

  constructor(
    private readonly settings: RateLimitSettings,
    options: { maxClients?: number; now?: () => number } = {},
  ) {
    this.maxClients = options.maxClients ?? 10_000;
    this.now = options.now ?? (() => performance.now());
  }

  get enabled(): boolean {
    return this.settings.requestsPerSecond > 0;
  }

  get trackedClients(): number {
    return this.buckets.size;
  }

  take(client: string): RateDecision {
    if (!this.enabled) return { allowed: true };
    const now = this.now();
    const { requestsPerSecond, burst } = this.settings;
    const bucket = this.buckets.get(client) ?? { tokens: burst, updatedAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * requestsPerSecond);
    bucket.updatedAt = now;
    // Re-inserted on each use, so the first key is always the least recently seen.
    this.buckets.delete(client);
    if (this.buckets.size >= this.maxClients) this.buckets.delete(this.buckets.keys().next().value as string);
    this.buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / requestsPerSecond)) };
  }
}

/**
 * The client a request is counted against: its IPv4 address, or the /64 prefix of an IPv6 address
 * (one host usually holds a whole /64, so per-address limits would be trivially bypassed). The
 * socket address is used, never X-Forwarded-For, which any client can forge.
 */
export function clientKey(remoteAddress: string | undefined): string {
  if (!remoteAddress) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(remoteAddress)) return remoteAddress;
  const groups = expandIPv6(remoteAddress.split('%')[0] as string);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':'));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  // An embedded IPv4 tail (::1.2.3.4) takes two groups; only the first four groups matter here.
  const missing = 8 - left.length - right.length - right.filter((group) => group.includes('.')).length;
  const groups = tail === undefined ? left : [...left, ...Array.from({ length: Math.max(0, missing) }, () => '0'), ...right];
  return groups.map((group) => (group.includes('.') ? group : group.toLowerCase().replace(/^0+(?=.)/, '')));
}
