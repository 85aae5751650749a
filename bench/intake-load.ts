/**
 * Phase 3's load generator, a process of its own: posts IDs to the exporter's intake API on
 * 127.0.0.1 over keep-alive connections, a bounded number of requests, and reports IDs accepted per
 * second and the latency of each request.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { phaseMain } from './lib/child.js';
import { percentile } from './lib/stats.js';

export interface IntakeLoadArgument {
  url: string;
  token: string;
  target: string;
  prefix: string;
  requests: number;
  itemsPerRequest: number;
  connections: number;
}

export interface IntakeLoadResult {
  requests: number;
  itemsPerRequest: number;
  connections: number;
  accepted: number;
  seconds: number;
  idsPerSecond: number;
  requestsPerSecond: number;
  latencyMilliseconds: { p50: number; p99: number; max: number };
}

phaseMain(async (argument: IntakeLoadArgument): Promise<IntakeLoadResult> => {
  const origin = new URL(argument.url).origin;
  const pool = new Pool(origin, { connections: argument.connections, pipelining: 1 });
  const headers = { authorization: `Bearer ${argument.token}`, 'content-type': 'application/json' };
  // Bodies are built before the clock starts: we measure the exporter, not JSON.stringify here.
  const bodies = Array.from({ length: argument.requests }, (_, request) => {
    const items = Array.from({ length: argument.itemsPerRequest }, (_, item) => ({
      target: argument.target,
      notificationId: `${argument.prefix}${request * argument.itemsPerRequest + item}`,
    }));
    return JSON.stringify(argument.itemsPerRequest === 1 ? items[0] : items);
  });
  const send = async (body: string): Promise<number> => {
    const response = await pool.request({ origin, path: '/api/v1/notifications', method: 'POST', headers, body });
    const text = await response.body.text();
    if (response.statusCode !== 202) throw new Error(`intake answered ${response.statusCode}: ${text}`);
    return (JSON.parse(text) as { accepted: number }).accepted;
  };
  // Warm-up on IDs of their own (not counted).
  for (let index = 0; index < 20; index += 1) await send(JSON.stringify({ target: argument.target, notificationId: `${argument.prefix}warm-${index}` }));

  const latencies: number[] = [];
  let accepted = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: argument.connections }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++] as string;
        const sentAt = performance.now();
        const count = await send(body);
        latencies.push(performance.now() - sentAt);
        accepted += count;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return {
    requests: argument.requests,
    itemsPerRequest: argument.itemsPerRequest,
    connections: argument.connections,
    accepted,
    seconds,
    idsPerSecond: accepted / seconds,
    requestsPerSecond: argument.requests / seconds,
    latencyMilliseconds: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: percentile(latencies, 1) },
  };
});
