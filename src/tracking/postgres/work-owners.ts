import type { Database } from './database.js';

/**
 * Work done by one replica at a time that is not a row of its own: an Everlive app, the shared
 * gauges of a target. A resource stays with its owner while the owner's lease lives; a replica
 * whose lease ran out loses it to the next that asks (once that one may take over).
 */
export class WorkOwners {
  constructor(
    private readonly database: Database,
    private readonly replicaId: string,
    private readonly mayTakeOver: () => boolean,
  ) {}

  /** Which of these resources are this replica's now (taking those nobody holds). */
  async claim(resources: readonly string[]): Promise<Set<string>> {
    if (resources.length === 0) return new Set();
    const { rows } = await this.database.query<{ resource: string }>(
      `INSERT INTO work_owners (resource, owner) SELECT resource, $2 FROM unnest($1::text[]) AS u(resource)
       ON CONFLICT (resource) DO UPDATE SET owner = excluded.owner
        WHERE work_owners.owner = excluded.owner
           OR ($3 AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.replica_id = work_owners.owner AND r.lease_until > now()))
       RETURNING resource`,
      [[...resources].sort(), this.replicaId, this.mayTakeOver()],
    );
    return new Set(rows.map((row) => row.resource));
  }

  /** At a clean stop: everything this replica holds is up for the taking at once. */
  async releaseAll(): Promise<void> {
    await this.database.query(`DELETE FROM work_owners WHERE owner = $1`, [this.replicaId]);
  }
}
