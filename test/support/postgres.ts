import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway PostgreSQL cluster for one test file: initdb and pg_ctl from Debian's `postgresql`
 * package (/usr/lib/postgresql/<version>/bin), on a random loopback port, under a temp folder. When
 * this process runs as root (CI), the cluster runs as the `postgres` user the package creates:
 * initdb refuses to run as root. No mock and no in-memory imitation of PostgreSQL.
 */
export interface ClusterOptions {
  /**
   * fsync and synchronous commit on, as in production (the benchmark compares with SQLite's
   * synchronous=FULL). Off by default: a test cluster needs no durability against power loss.
   */
  durable?: boolean;
}

export class PostgresCluster {
  private databases = 0;

  private constructor(
    readonly folder: string,
    readonly port: number,
    private readonly binaries: string,
    private readonly runAs: string | undefined,
    private readonly options: ClusterOptions,
  ) {}

  get url(): string {
    return `postgres://pne@127.0.0.1:${this.port}/pne`;
  }

  /** The folder holding initdb and pg_ctl, or undefined when PostgreSQL is not installed. */
  static binaries(): string | undefined {
    const root = '/usr/lib/postgresql';
    if (!existsSync(root)) return undefined;
    const versions = readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const bin = join(root, version, 'bin');
      if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
    }
    return undefined;
  }

  /** Why PostgreSQL tests cannot run here, or undefined when they can. */
  static unavailableReason(): string | undefined {
    if (PostgresCluster.binaries() === undefined) return 'PostgreSQL binaries not found under /usr/lib/postgresql/<version>/bin (apt-get install postgresql)';
    if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root but there is no postgres user to run the cluster as';
    return undefined;
  }

  static async start(options: ClusterOptions = {}): Promise<PostgresCluster> {
    const binaries = PostgresCluster.binaries();
    if (!binaries) throw new Error(PostgresCluster.unavailableReason());
    const runAs = process.getuid?.() === 0 ? 'postgres' : undefined;
    const folder = mkdtempSync(join(tmpdir(), 'pne-pg-'));
    if (runAs) {
      const uid = Number(execFileSync('id', ['-u', runAs]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', runAs]).toString().trim());
      chownSync(folder, uid, gid);
    }
    const cluster = new PostgresCluster(folder, await freePort(), binaries, runAs, options);
    cluster.run('initdb', ['-D', cluster.dataFolder, '-U', 'pne', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    writeFileSync(join(folder, 'pg-options'), '');
    cluster.startServer();
    cluster.run('createdb', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'pne', 'pne']);
    return cluster;
  }

  private get dataFolder(): string {
    return join(this.folder, 'data');
  }

  /** Starts (again) the server on the same port and data. */
  startServer(): void {
    // Sockets go in the cluster's own folder, never /var/run/postgresql.
    const durability = this.options.durable ? '' : ' -c fsync=off';
    const options = `-h 127.0.0.1 -p ${this.port} -k ${this.folder}${durability} -c max_connections=200`;
    this.run('pg_ctl', ['-D', this.dataFolder, '-l', join(this.folder, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
  }

  /** Stops the server: `fast` ends sessions and rolls back open transactions, as a restart in production would. */
  stopServer(mode: 'fast' | 'immediate' = 'fast'): void {
    this.run('pg_ctl', ['-D', this.dataFolder, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  restart(): void {
    this.stopServer();
    this.startServer();
  }

  /** Runs SQL through psql (on the database of this URL, or `pne`) and returns its unaligned output. */
  sql(statement: string, databaseUrl?: string): string {
    const database = databaseUrl === undefined ? 'pne' : new URL(databaseUrl).pathname.slice(1);
    return this.run('psql', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'pne', '-d', database, '-At', '-v', 'ON_ERROR_STOP=1', '-c', statement]);
  }

  /** A fresh empty database in this cluster, for a test (or a measured run) that wants its own. */
  createDatabase(name = `database_${(this.databases += 1)}`): string {
    this.run('createdb', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'pne', name]);
    return `postgres://pne@127.0.0.1:${this.port}/${name}`;
  }

  stop(): void {
    try {
      this.stopServer('immediate');
    } catch {
      // Already stopped.
    }
    rmSync(this.folder, { recursive: true, force: true });
  }

  private run(program: string, args: string[]): string {
    const binary = existsSync(join(this.binaries, program)) ? join(this.binaries, program) : program;
    const [command, commandArgs] = this.runAs ? ['runuser', ['-u', this.runAs, '--', binary, ...args]] : [binary, args];
    const result = spawnSync(command, commandArgs, { encoding: 'utf8', cwd: this.folder, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
    if (result.status !== 0) throw new Error(`${program} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout}`);
    return result.stdout.trim();
  }
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

/**
 * For `describe.skipIf(...)`: PostgreSQL tests skip with a message where PostgreSQL is not
 * installed, and fail under CI=true, where it must be (.ci/run installs it).
 */
export function postgresUnavailable(): boolean {
  const reason = PostgresCluster.unavailableReason();
  if (reason === undefined) return false;
  if (process.env.CI === 'true') throw new Error(`PostgreSQL tests cannot run under CI=true: ${reason}`);
  process.stderr.write(`skipping PostgreSQL tests: ${reason}\n`);
  return true;
}
