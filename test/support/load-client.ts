import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface LoadClientOptions {
  url: string;
  token: string;
  target: string;
  /** A file with the IDs to post, one per line (the simulator knows them). */
  idsFile: string;
  /** Where the client writes its result (JSON). */
  resultFile: string;
  seconds: number;
  requestsPerSecond: number;
  itemsPerRequest: number;
  connections: number;
}

export interface LoadClientResult {
  requests: number;
  accepted: number;
  duplicates: number;
  /** Answers other than 202, by status (or error name). */
  errors: Record<string, number>;
  acknowledgedIds: string[];
  seconds: number;
  latencyMilliseconds: { p50: number; p99: number; max: number };
}

const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The load generator runs as a process of its own (ESM JavaScript given to `node -e`, so it needs no
 * build step): paced POSTs to the intake API over keep-alive connections on loopback, for a bounded
 * time, each ID posted once. It reports statuses, latencies and the IDs acknowledged with 202.
 */
const script = String.raw`
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

const options = JSON.parse(process.env.LOAD_CLIENT_OPTIONS);
const ids = readFileSync(options.idsFile, 'utf8').split('\n').filter(Boolean);
const origin = new URL(options.url).origin;
const pool = new Pool(origin, { connections: options.connections });
const headers = { authorization: 'Bearer ' + options.token, 'content-type': 'application/json' };
const interval = 1000 / options.requestsPerSecond;
const latencies = [];
const errors = {};
const acknowledged = [];
let accepted = 0;
let duplicates = 0;
let next = 0;
let slot = 0;
const started = performance.now();
const deadline = started + options.seconds * 1000;

async function worker() {
  for (;;) {
    const mySlot = slot++;
    const at = started + mySlot * interval;
    if (at >= deadline || next >= ids.length) return;
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    const batch = ids.slice(next, next + options.itemsPerRequest);
    next += batch.length;
    const body = JSON.stringify(batch.map((notificationId) => ({ target: options.target, notificationId })));
    const sentAt = performance.now();
    try {
      const response = await pool.request({ origin, path: '/api/v1/notifications', method: 'POST', headers, body });
      const text = await response.body.text();
      latencies.push(performance.now() - sentAt);
      if (response.statusCode === 202) {
        const answer = JSON.parse(text);
        accepted += answer.accepted;
        duplicates += answer.duplicates;
        acknowledged.push(...batch);
      } else {
        errors[response.statusCode] = (errors[response.statusCode] ?? 0) + 1;
      }
    } catch (error) {
      errors[error.name] = (errors[error.name] ?? 0) + 1;
    }
  }
}

await Promise.all(Array.from({ length: options.connections * 2 }, worker));
await pool.close();
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil(q * latencies.length) - 1))] ?? 0;
writeFileSync(options.resultFile, JSON.stringify({
  requests: latencies.length + Object.values(errors).reduce((a, b) => a + b, 0),
  accepted, duplicates, errors, acknowledgedIds: acknowledged,
  seconds: (performance.now() - started) / 1000,
  latencyMilliseconds: { p50: at(0.5), p99: at(0.99), max: at(1) },
}));
`;

export async function runLoadClient(options: LoadClientOptions): Promise<LoadClientResult> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repositoryRoot,
    env: { ...process.env, LOAD_CLIENT_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  if (code !== 0) throw new Error(`load client exited with ${code}: ${stderr}`);
  return JSON.parse(readFileSync(options.resultFile, 'utf8')) as LoadClientResult;
}
