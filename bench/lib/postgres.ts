import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway PostgreSQL cluster for the benchmark, as the tests make theirs (initdb and pg_ctl
 * from Debian's `postgresql` package, a random loopback port, a temp folder, the `postgres` user
 * when run as root), but durable as in production: fsync and synchronous_commit stay on, so the
 * figures compare with SQLite's synchronous=FULL.
 */
export class BenchPostgres {
  private databases = 0;

  private constructor(
    private readonly folder: string,
    private readonly port: number,
    private readonly binaries: string,
    private readonly runAs: string | undefined,
  ) {}

  /** Why the PostgreSQL rows are skipped here, or undefined when they can run. */
  static unavailable(): string | undefined {
    if (findBinaries() === undefined) return 'PostgreSQL not installed';
    if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'PostgreSQL not usable (root, and no postgres user)';
    return undefined;
  }

  static async start(): Promise<BenchPostgres> {
    const binaries = findBinaries();
    if (!binaries) throw new Error('PostgreSQL not installed');
    const runAs = process.getuid?.() === 0 ? 'postgres' : undefined;
    const folder = mkdtempSync(join(tmpdir(), 'pne-bench-pg-'));
    if (runAs) chownSync(folder, Number(execFileSync('id', ['-u', runAs]).toString()), Number(execFileSync('id', ['-g', runAs]).toString()));
    const cluster = new BenchPostgres(folder, await freePort(), binaries, runAs);
    const data = join(folder, 'data');
    cluster.run('initdb', ['-D', data, '-U', 'pne', '--auth=trust', '-E', 'UTF8', '--locale=C']);
    const options = `-h 127.0.0.1 -p ${cluster.port} -k ${folder} -c max_connections=200`;
    cluster.run('pg_ctl', ['-D', data, '-l', join(folder, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
    return cluster;
  }

  /** A fresh database of its own (one per measured run). */
  createDatabase(): string {
    this.databases += 1;
    const name = `bench_${this.databases}`;
    this.run('createdb', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'pne', name]);
    return `postgres://pne@127.0.0.1:${this.port}/${name}`;
  }

  stop(): void {
    try {
      this.run('pg_ctl', ['-D', join(this.folder, 'data'), '-m', 'immediate', '-w', 'stop']);
    } catch {
      // Already stopped.
    }
    rmSync(this.folder, { recursive: true, force: true });
  }

  private run(program: string, args: string[]): string {
    const binary = existsSync(join(this.binaries, program)) ? join(this.binaries, program) : program;
    const [command, commandArgs] = this.runAs ? ['runuser', ['-u', this.runAs, '--', binary, ...args]] : [binary, args];
    const result = spawnSync(command, commandArgs, { encoding: 'utf8', cwd: this.folder });
    if (result.status !== 0) throw new Error(`${program} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout}`);
    return result.stdout.trim();
  }
}

function findBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
  return versions.map((version) => join(root, version, 'bin')).find((bin) => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl')));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
