import pg from 'pg';
import type { Logger } from '../../logging/logger.js';
import { StoreError } from '../storage.js';
import type { Database } from './database.js';

export interface LeaseTiming {
  /** A replica not heard from for this long is gone: its work is taken over (≤ 30 s). */
  leaseMilliseconds: number;
  /** Renewed three times per lease, so one slow renewal does not lose it. */
  heartbeatMilliseconds: number;
}

export const defaultLeaseTiming: LeaseTiming = { leaseMilliseconds: 30_000, heartbeatMilliseconds: 10_000 };

/**
 * This replica's presence in the database. A session-level advisory lock on a connection of its own
 * makes the replica ID exclusive (two processes with one ID would poll the same messages and keep
 * one set of counters); the lease in `replicas`, renewed on the database's clock, tells the others
 * that it is alive.
 *
 * Taking over another replica's work waits until this one has been connected for a whole lease
 * period: after an outage of the database every lease has run out, and the replicas must first
 * renew their own before any of them may call another gone.
 */
export class ReplicaPresence {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private connectedSince: number | undefined;
  private beating: Promise<void> | undefined;

  constructor(
    private readonly database: Database,
    private readonly options: { connectionString: string; replicaId: string; applicationName: string },
    private readonly timing: LeaseTiming,
    private readonly logger?: Logger,
  ) {}

  /** Joins: takes the ID's lock and the lease; a StoreError if another live process has this ID. */
  async join(): Promise<void> {
    await this.renew();
    this.timer = setInterval(() => {
      this.beating ??= this.renew()
        .catch((error: unknown) => {
          this.connectedSince = undefined;
          this.database.noteFailure(error);
          if (error instanceof StoreError) this.logger?.error({ error: error.message }, 'replica ID taken by another process');
        })
        .finally(() => {
          this.beating = undefined;
        });
    }, this.timing.heartbeatMilliseconds);
    this.timer.unref();
  }

  /** Whether this replica may take over work of replicas whose lease ran out. */
  mayTakeOver(): boolean {
    return this.connectedSince !== undefined && Date.now() - this.connectedSince >= this.timing.leaseMilliseconds;
  }

  /** At a clean stop: the lease ends now, so nobody waits for it to run out. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    try {
      await this.database.query(`DELETE FROM replicas WHERE replica_id = $1`, [this.options.replicaId]);
    } catch {
      // The lease runs out by itself.
    }
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private async renew(): Promise<void> {
    const client = await this.lockHolder();
    await client.query(
      `INSERT INTO replicas (replica_id, started_at, heartbeat_at, lease_until) VALUES ($1, now(), now(), now() + $2 * interval '1 millisecond')
       ON CONFLICT (replica_id) DO UPDATE SET heartbeat_at = now(), lease_until = excluded.lease_until`,
      [this.options.replicaId, this.timing.leaseMilliseconds],
    );
    this.connectedSince ??= Date.now();
    this.database.noteSuccess();
  }

  /** The connection that holds the ID's advisory lock, opened (and the lock taken) again after it broke. */
  private async lockHolder(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({ connectionString: this.options.connectionString, connectionTimeoutMillis: 5_000, query_timeout: 15_000, keepAlive: true, application_name: this.options.applicationName });
    client.on('error', (error) => {
      this.database.noteFailure(error);
      if (this.client === client) this.client = undefined;
      this.connectedSince = undefined;
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(hashtext('push-notification-exporter replica'), hashtext($1)) AS locked`, [this.options.replicaId]);
      if (rows[0]?.locked !== true) {
        throw new StoreError(`replicaId ${this.options.replicaId} is in use by another running exporter: give each replica its own (the default is the host name)`);
      }
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.client = client;
    return client;
  }
}
