import pg from 'pg';
import type { Logger } from '../../logging/logger.js';
import type { StorageProblem } from '../storage.js';

export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * The connection pool and what the storage learns from it: every failed connection or query says
 * the database is unreachable until one succeeds again. Callers see errors as rejections; nothing
 * here throws at a caller that did not ask, and an idle connection dropped by a server restart is
 * only noted (pg emits it as an 'error' event, which would otherwise end the process).
 */
export class Database {
  readonly pool: pg.Pool;
  private unreachable: string | undefined;
  private uncertain = false;

  constructor(
    options: { connectionString: string; poolSize: number; applicationName: string },
    private readonly logger?: Logger,
  ) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize,
      // Intake answers 503 within seconds when the database is away, instead of hanging.
      connectionTimeoutMillis: 5_000,
      query_timeout: 15_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: options.applicationName,
    });
    this.pool.on('error', (error) => this.noteFailure(error));
  }

  get problem(): StorageProblem | undefined {
    return this.unreachable === undefined ? undefined : { message: this.unreachable, lasting: false };
  }

  async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      const result = await this.pool.query<R>(text, values);
      this.noteSuccess();
      return result;
    } catch (error) {
      this.noteFailure(error);
      throw error;
    }
  }

  /** Runs `work` in one transaction; resolves only after COMMIT succeeded. */
  async transaction<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      this.noteFailure(error);
      throw error;
    }
    // A connection that breaks while checked out is emitted as an 'error' on its client, and the
    // pool listens only on idle ones: unheard, it would end the process. The statement in flight
    // fails with it as well, which is what the caller sees.
    const onError = (error: Error) => this.noteFailure(error);
    client.on('error', onError);
    let broken = false;
    let committing = false;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      committing = true;
      await client.query('COMMIT');
      this.noteSuccess();
      return result;
    } catch (error) {
      broken = isConnectionError(error);
      // The connection broke during COMMIT: the transaction may have committed all the same.
      if (committing && broken) this.uncertain = true;
      if (!broken) await client.query('ROLLBACK').catch(() => undefined);
      this.noteFailure(error);
      throw error;
    } finally {
      // A broken client is discarded with its listener (a late 'error' still finds it).
      if (!broken) client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /** Whether a COMMIT ended without an answer since the last call (its outcome is unknown). */
  takeUncertainty(): boolean {
    const uncertain = this.uncertain;
    this.uncertain = false;
    return uncertain;
  }

  noteSuccess(): void {
    this.unreachable = undefined;
  }

  noteFailure(error: unknown): void {
    if (!isConnectionError(error)) return;
    if (this.unreachable === undefined) this.logger?.debug({ error: String(error) }, 'PostgreSQL connection failed');
    this.unreachable = `PostgreSQL cannot be reached: ${describe(error)}`;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

const connectionCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN']);

/**
 * A failure of the connection rather than of the statement: class 08 (connection exception),
 * 57P01-57P03 (the server is shutting down or starting), a socket error, or pg's own timeouts.
 * See https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || connectionCodes.has(code))) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(message);
}

/** The error's code and first line: never the connection string (it may hold a password). */
function describe(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]?.slice(0, 200) ?? '';
  return typeof code === 'string' ? `${code} ${message}` : message;
}
