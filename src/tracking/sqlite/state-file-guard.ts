import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreError } from '../storage.js';

/**
 * SQLite quietly treats an empty file as a new database, and starts afresh when the main file is gone
 * but its write-ahead log is still there. For the state file either would be a silent reset: counters
 * back to zero and every acknowledged ID forgotten. Both are refused at start with a clear error
 * instead; the operator decides (restore a backup, or remove the file to start afresh).
 */
export function refuseSilentReset(path: string): void {
  if (path === ':memory:' || path === '') return;
  const main = sizeOf(path);
  if (main === 0) {
    throw new StoreError(
      `state file ${path} is empty (0 bytes): it was truncated or never fully created; ` +
        'restore a backup, or delete it to start afresh with empty counters',
    );
  }
  // SQLite would only say "unable to open database file": name the permission problem instead.
  if (main !== undefined) refuseUnlessAccessible(path, 'the state file', constants.R_OK | constants.W_OK);
  const folder = dirname(path);
  // A missing folder is created by the store.
  if (isDirectory(folder)) refuseUnlessAccessible(folder, 'its folder (SQLite writes the -wal and -shm files next to it)', constants.W_OK | constants.X_OK);
  const wal = sizeOf(`${path}-wal`);
  if (main === undefined && wal !== undefined && wal > 0) {
    throw new StoreError(
      `state file ${path} is missing but its write-ahead log ${path}-wal is there: restore the state file ` +
        '(the -wal file belongs with it), or delete the -wal file to start afresh with empty counters',
    );
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function refuseUnlessAccessible(path: string, what: string, mode: number): void {
  try {
    accessSync(path, mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new StoreError(`cannot use state file: ${what} ${path} is not readable and writable by this user (${code}); check its owner and permissions`);
  }
}

/** undefined when the file does not exist (or is not a regular file: SQLite reports those itself). */
function sizeOf(path: string): number | undefined {
  try {
    const stats = statSync(path);
    return stats.isFile() ? stats.size : undefined;
  } catch {
    return undefined;
  }
}
