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

  static start(args: string[], environment: NodeJS.ProcessEnv = {}): ExporterProcess {
    requireBuild();
    return new ExporterProcess(
      spawn(process.execPath, [mainScript, ...args], { env: { ...process.env, ...environment }, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
  }

  /** Waits for the "exporter started" log line and returns the URL it printed. */
  async waitForStart(timeoutMilliseconds = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMilliseconds;
    while (Date.now() < deadline) {
      const line = this.stderr.split('\n').find((text) => text.includes('"exporter started"'));
      if (line) return (JSON.parse(line) as { url: string }).url;
      if (this.child.exitCode !== null) throw new Error(`exporter exited early: ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`exporter did not start: ${this.stderr}`);
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
