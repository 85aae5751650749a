import { SqliteStorage } from './sqlite/sqlite-storage.js';
import type { Storage } from './storage.js';

/** The one place that knows the backends: the config's `storage` section picks one. */
// eslint-disable-next-line @typescript-eslint/require-await -- one backend opens synchronously, the other will not
export async function openStorage(config: { path: string }, histogramBounds: ReadonlyMap<string, readonly number[]>): Promise<Storage> {
  return SqliteStorage.open(config.path, histogramBounds);
}
