import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** With BENCH_PROFILE_DIR set, every measured process writes a V8 CPU profile there (node --cpu-prof). */
export function profileArguments(): string[] {
  const folder = process.env.BENCH_PROFILE_DIR;
  return folder ? ['--cpu-prof', '--cpu-prof-dir', folder] : [];
}

/** A compiled benchmark script next to this one (dist-bench/bench/NAME.js). */
export function benchScript(name: string): string {
  return fileURLToPath(new URL(`../${name}.js`, import.meta.url));
}

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

/** A forked helper process answering numbered requests over IPC. */
export class RpcChild {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: Reply) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(new Error(message.error ?? 'failed'));
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        for (const waiter of this.pending.values()) waiter.reject(new Error(`helper process exited (${code})`));
        this.pending.clear();
        resolve(code);
      }),
    );
  }

  static start(name: string, environment: NodeJS.ProcessEnv = {}, execArgv: string[] = []): RpcChild {
    return new RpcChild(
      fork(benchScript(name), [], { env: { ...process.env, ...environment }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
  }

  async call<T>(command: string, argument: unknown = {}): Promise<T> {
    const id = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.child.send({ id, command, argument });
    return (await reply) as T;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.disconnect();
    await this.exited;
  }
}

/** The child side: answers RPC requests with `handlers` until the parent disconnects. */
export function serveRpc(handlers: Record<string, (argument: never) => unknown>): void {
  process.on('message', (message: { id: number; command: string; argument: unknown }) => {
    const handler = handlers[message.command];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${message.command}`);
        return handler(message.argument as never);
      })
      .then(
        (value) => process.send?.({ id: message.id, ok: true, value }),
        (error: unknown) => process.send?.({ id: message.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  process.on('disconnect', () => {
    void Promise.resolve(handlers.close?.(undefined as never)).finally(() => process.exit(0));
  });
}

/** Runs a one-shot phase script in a child process and returns what it reported. */
export async function runPhase<T>(
  name: string,
  argument: unknown,
  options: { environment?: NodeJS.ProcessEnv; execArgv?: string[]; timeoutMilliseconds?: number } = {},
): Promise<T> {
  const child = fork(benchScript(name), [JSON.stringify(argument)], {
    env: { ...process.env, ...options.environment },
    execArgv: [...profileArguments(), ...(options.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let result: { ok: boolean; value?: T; error?: string } | undefined;
  child.on('message', (message: { ok: boolean; value?: T; error?: string }) => (result = message));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMilliseconds ?? 300_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
  );
  clearTimeout(timer);
  if (result?.ok) return result.value as T;
  throw new Error(`phase ${name} failed (${signal ?? code}): ${result?.error ?? 'no result'}`);
}

/** The child side of runPhase: runs `body` with the argument and reports its result. */
export function phaseMain<A, T>(body: (argument: A) => Promise<T>): void {
  const argument = JSON.parse(process.argv[2] ?? '{}') as A;
  body(argument).then(
    (value) => process.send?.({ ok: true, value }, () => process.exit(0)),
    (error: unknown) => {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.send?.({ ok: false, error: text }, () => process.exit(1));
    },
  );
}
