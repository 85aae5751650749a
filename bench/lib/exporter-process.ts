import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { request } from 'undici';
import { profileArguments } from './child.js';
import { sleep } from './stats.js';

export const mainScript = fileURLToPath(new URL('../../../dist/main.js', import.meta.url));
const gcPreload = pathToFileURL(fileURLToPath(new URL('./gc-on-signal.js', import.meta.url))).href;

/**
 * The Node.js flags operators run the exporter with: those of `npm start` (package.json), which the
 * Dockerfile's ENTRYPOINT and the systemd unit's ExecStart repeat (test/deploy/deploy-files.test.ts
 * keeps the three the same). The footprint is measured as it runs in production.
 */
export function operatorNodeFlags(): string[] {
  const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const [node, ...rest] = packageJson.scripts.start.split(' ');
  const script = rest.indexOf('dist/main.js');
  if (node !== 'node' || script < 0) throw new Error(`package.json's start script is not "node [flags] dist/main.js": ${packageJson.scripts.start}`);
  return rest.slice(0, script);
}

/** The Accept header Prometheus 2.x sends when scraping. */
export const prometheusAccept =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

export interface MemorySample {
  rssBytes: number;
  heapUsedBytes: number;
  /** After a forced full GC: the live heap. */
  liveHeapBytes: number;
  /** Before the GC, to split the RSS up: what V8 has reserved for its heap (all spaces)... */
  heapTotalBytes: number;
  /** ...of which its young generation (both semispaces, sized by --max-semi-space-size)... */
  newSpaceBytes: number;
  /** ...and memory outside V8's heap held by JavaScript objects (not SQLite's own), of which ArrayBuffers and Buffers are arrayBuffersBytes. */
  externalBytes: number;
  arrayBuffersBytes: number;
  /** User and system CPU the process has used since it started. */
  cpuMilliseconds: number;
}

/** The built exporter (dist/main.js) as a real process, the way an operator runs it. */
export class ExporterProcess {
  url = '';
  private stderr = '';
  private stdout = '';
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    private readonly spawnedAt: number,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Writes the config next to the state file and starts the exporter with it. */
  static start(folder: string, config: unknown, name = 'config'): ExporterProcess {
    const configPath = join(folder, `${name}.json`);
    writeFileSync(configPath, JSON.stringify(config));
    const spawnedAt = performance.now();
    const child = spawn(process.execPath, [...profileArguments(), ...operatorNodeFlags(), '--expose-gc', '--import', gcPreload, mainScript, '--config', configPath, '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    return new ExporterProcess(child, spawnedAt);
  }

  /** Waits for the "exporter started" line; returns milliseconds from spawn to then. */
  async waitForStart(timeoutMilliseconds = 120_000): Promise<number> {
    const deadline = performance.now() + timeoutMilliseconds;
    while (performance.now() < deadline) {
      const line = this.stderr.split('\n').find((text) => text.includes('"exporter started"'));
      if (line) {
        const startedAt = performance.now();
        this.url = (JSON.parse(line) as { url: string }).url;
        return startedAt - this.spawnedAt;
      }
      if (this.child.exitCode !== null) throw new Error(`exporter exited early: ${this.stderr.slice(-2000)}`);
      await sleep(5);
    }
    throw new Error(`exporter did not start: ${this.stderr.slice(-2000)}`);
  }

  logLines(): Record<string, unknown>[] {
    return this.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** RSS as the kernel reports it, the heap as it is, then the live heap after a full GC. */
  async memory(): Promise<MemorySample> {
    const marker = this.stdout.length;
    this.child.kill('SIGUSR2');
    for (let waited = 0; waited < 10_000; waited += 10) {
      const line = this.stdout.slice(marker).split('\n').find((text) => text.startsWith('{"memory"'));
      if (line) {
        const { before, after, spaces, cpuMicroseconds } = (
          JSON.parse(line) as { memory: { before: NodeJS.MemoryUsage; after: NodeJS.MemoryUsage; spaces: Record<string, number>; cpuMicroseconds: number } }
        ).memory;
        return {
          rssBytes: before.rss,
          heapUsedBytes: before.heapUsed,
          liveHeapBytes: after.heapUsed,
          heapTotalBytes: before.heapTotal,
          newSpaceBytes: spaces.new_space ?? 0,
          externalBytes: before.external,
          arrayBuffersBytes: before.arrayBuffers,
          cpuMilliseconds: cpuMicroseconds / 1000,
        };
      }
      await sleep(10);
    }
    throw new Error('the exporter did not report its memory');
  }

  /** GET /metrics; with `openMetrics`, asking for OpenMetrics first as Prometheus does. */
  async scrape(openMetrics = false): Promise<string> {
    const accept = openMetrics ? prometheusAccept : 'text/plain;version=0.0.4';
    const response = await request(`${this.url}/metrics`, { headers: { accept } });
    return response.body.text();
  }

  /** SIGTERM, as an operator stops it; returns milliseconds until it exited. */
  async stop(): Promise<number> {
    const started = performance.now();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    const code = await this.exited;
    if (code !== 0) throw new Error(`exporter exited with ${code}: ${this.stderr.slice(-2000)}`);
    return performance.now() - started;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Sums the samples of one metric family in a Prometheus text exposition. */
export function sumSamples(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
