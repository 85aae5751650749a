import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError } from '../storage.js';
import { migrations, type Migration } from './schema.js';

/**
 * Opens (creating with its folder) the state file: WAL, synchronous=FULL, an exclusive lock kept
 * until close, an integrity check and the schema migrations. A corrupt, foreign or locked file is a
 * StoreError that says what to do.
 */
export function openStateFile(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let database: Database.Database | undefined;
  try {
    database = new Database(path);
    // One exporter per state file: a second process gets a clear "in use" error instead of double counting.
    database.pragma('locking_mode = EXCLUSIVE');
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = FULL');
    database.pragma('foreign_keys = ON');
    // better-sqlite3 builds SQLite with a 16 MB page cache (SQLite's own default is 2 MB), and with
    // 100k tracked messages the ~20 MB state file fills it: 14 MB of RSS (issue 15). The pages
    // missed are re-read from the kernel's page cache; the hot ones (the B-tree's upper levels) stay.
    database.pragma('cache_size = -2000');
    // Take the exclusive lock now (kept until close), not at the first write.
    database.exec('BEGIN EXCLUSIVE; COMMIT');
    const check = database.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new StoreError(`state file ${path} failed its integrity check: ${String(check)}`);
    migrate(database, path);
    return database;
  } catch (error) {
    database?.close();
    throw describeOpenError(error, path);
  }
}

function migrate(database: Database.Database, path: string): void {
  const version = database.pragma('user_version', { simple: true }) as number;
  if (version > migrations.length) {
    throw new StoreError(
      `state file ${path} has schema version ${version}, newer than this exporter understands (${migrations.length}); ` +
        'run the newer version or restore a backup',
    );
  }
  for (let next = version; next < migrations.length; next += 1) {
    const migration = migrations[next] as Migration;
    database.transaction(() => {
      if (typeof migration === 'string') database.exec(migration);
      else migration(database);
      database.pragma(`user_version = ${next + 1}`);
    }).immediate();
  }
}

export function describeOpenError(error: unknown, path: string): Error {
  if (error instanceof StoreError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? String(error);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreError(`state file ${path} is not a valid SQLite database (${message}); restore a backup or move it aside`);
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new StoreError(`state file ${path} is in use by another process: run one exporter per state file`);
  }
  return new StoreError(`cannot open state file ${path}: ${message}`);
}
