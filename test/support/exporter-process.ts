import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

export const mainScript = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export function requireBuild(): void {
  if (!existsSync(mainScript)) throw new Error(`${mainScript} is missing: run "npm run build" first (npm test does)`);
}

/** The built exporter as a real child process, the way an operator runs it. */
export class ExporterProcess {
  stderr = '';
  stdout = '';
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  static start(args: string[], environment: NodeJS.ProcessEnv = {}, options: { cwd?: string } = {}): ExporterProcess {
    requireBuild();
    return new ExporterProcess(
      spawn(process.execPath, [mainScript, ...args], { env: { ...process.env, ...environment }, stdio: ['ignore', 'pipe', 'pipe'], cwd: options.cwd }),
    );
  }

  /** Waits for the "exporter started" log line (JSON) and returns the URL it printed. */
  async waitForStart(timeoutMilliseconds = 15_000): Promise<string> {
    const line = await this.waitForLine((text) => text.includes('"exporter started"'), timeoutMilliseconds);
    return (JSON.parse(line) as { url: string }).url;
  }

  /** Waits for a line of stderr (or of stdout, with `stream`) that passes `matches`; returns it. */
  async waitForLine(matches: (line: string) => boolean, timeoutMilliseconds = 15_000, stream: 'stderr' | 'stdout' = 'stderr'): Promise<string> {
    const deadline = Date.now() + timeoutMilliseconds;
    while (Date.now() < deadline) {
      const line = this[stream].split('\n').find(matches);
      if (line) return line;
      if (this.child.exitCode !== null) throw new Error(`process exited early: ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no such line within ${timeoutMilliseconds} ms: ${this.stderr}`);
  }

  /** The log lines so far, parsed (JSON format). */
  logLines(): Record<string, unknown>[] {
    return this.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }
}

export async function httpGet(url: string): Promise<{ status: number; text: string }> {
  const response = await request(url);
  return { status: response.statusCode, text: await response.body.text() };
}
