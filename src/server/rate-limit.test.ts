import { describe, expect, it } from 'vitest';
import { ClientRateLimiter, clientKey } from './rate-limit.js';

describe('ClientRateLimiter', () => {
  it('allows a burst, then the sustained rate, per client, with a Retry-After', () => {
    let now = 0;
    const limiter = new ClientRateLimiter({ requestsPerSecond: 2, burst: 3 }, { now: () => now });
    const results = Array.from({ length: 5 }, () => limiter.take('a').allowed);
    expect(results).toEqual([true, true, true, false, false]);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    // Another client has its own bucket.
    expect(limiter.take('b').allowed).toBe(true);
    now += 500; // one token back at 2 per second
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    now += 60_000; // refills up to the burst, never beyond
    expect(Array.from({ length: 4 }, () => limiter.take('a').allowed)).toEqual([true, true, true, false]);
  });

  it('asks slow limits to wait long enough', () => {
    const limiter = new ClientRateLimiter({ requestsPerSecond: 0.1, burst: 1 }, { now: () => 0 });
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 10 });
  });

  it('is off with requestsPerSecond 0', () => {
    const limiter = new ClientRateLimiter({ requestsPerSecond: 0, burst: 1 });
    expect(Array.from({ length: 100 }, () => limiter.take('a').allowed).every(Boolean)).toBe(true);
    expect(limiter.trackedClients).toBe(0);
  });

  it('keeps a bounded number of clients, forgetting the least recently seen', () => {
    const limiter = new ClientRateLimiter({ requestsPerSecond: 1, burst: 1 }, { maxClients: 100, now: () => 0 });
    for (let index = 0; index < 10_000; index += 1) limiter.take(`10.0.${index >> 8}.${index & 255}`);
    expect(limiter.trackedClients).toBe(100);
  });
});

describe('clientKey', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    [undefined, 'unknown'],
  ])('%s → %s', (address, key) => {
    expect(clientKey(address)).toBe(key);
  });
});
