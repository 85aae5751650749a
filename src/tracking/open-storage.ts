import type { StorageConfig } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import { SqliteStorage } from './sqlite/sqlite-storage.js';
import type { Storage } from './storage.js';

/** The one place that knows the backends: the config's `storage` section picks one. */
export async function openStorage(config: StorageConfig, histogramBounds: ReadonlyMap<string, readonly number[]>, logger?: Logger): Promise<Storage> {
  if (config.postgres) {
    // pg and the PostgreSQL backend cost about 3 MB of heap: a process on a state file never loads them.
    const { PostgresStorage } = await import('./postgres/postgres-storage.js');
    return PostgresStorage.open(config.postgres, histogramBounds, logger);
  }
  return SqliteStorage.open(config.path, histogramBounds);
}
