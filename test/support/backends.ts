import { afterAll, beforeAll } from 'vitest';
import type { HarnessOptions } from './harness.js';
import { PostgresCluster, postgresUnavailable } from './postgres.js';

export type StorageBackend = 'sqlite' | 'postgres';

/**
 * One suite, two backends: call at the top of a test file, then
 * `describe.each(backends.names)('… (%s)', (backend) => … Harness.start({ ...backends.options(backend), … }))`.
 * PostgreSQL runs in a throwaway cluster for the file, a fresh database per harness; where it is
 * not installed its half skips with a message (and fails under CI=true).
 */
export function storageBackends(): { names: StorageBackend[]; options: (backend: StorageBackend) => Pick<HarnessOptions, 'postgresUrl'> } {
  const withPostgres = !postgresUnavailable();
  let cluster: PostgresCluster | undefined;
  let databases = 0;
  if (withPostgres) {
    beforeAll(async () => {
      cluster = await PostgresCluster.start();
    }, 120_000);
    afterAll(() => cluster?.stop());
  }
  return {
    names: withPostgres ? ['sqlite', 'postgres'] : ['sqlite'],
    options: (backend) => {
      if (backend === 'sqlite') return {};
      if (!cluster) throw new Error('the PostgreSQL cluster did not start');
      databases += 1;
      return { postgresUrl: cluster.createDatabase(`test_${databases}`) };
    },
  };
}
