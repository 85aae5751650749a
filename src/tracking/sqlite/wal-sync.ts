import { closeSync, fdatasync, fstatSync, fsyncSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** How the WAL file is flushed to disk: fs.fdatasync by default (tests hold it to see what waits for it). */
export type SyncFunction = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => void;

interface Waiting {
  effect: () => void;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Makes commits durable without stopping the event loop. The connection runs with
 * synchronous=NORMAL, so COMMIT only writes its frames to the WAL file (atomic and safe against a
 * crash of the process: the frames are in the OS's page cache; https://www.sqlite.org/pragma.html#pragma_synchronous,
 * https://www.sqlite.org/wal.html), and this class flushes the WAL file with fdatasync on libuv's
 * thread pool. Whatever a commit acknowledges (an intake 202, counters on /metrics) waits in
 * settle() for a flush that started after that commit: then its frames are on disk, as
 * synchronous=FULL would have made them before COMMIT returned, and power loss cannot take them back.
 *
 * While one flush runs, commits go on and their settles wait for the next flush, which covers them
 * all (group commit for the fsync). Checkpoints are no concern: with NORMAL, SQLite syncs the WAL
 * before a checkpoint and the database file after it, before the WAL is reused.
 *
 * SQLite keeps one WAL file (one inode) while the connection is open, truncating or overwriting
 * it but never replacing it; fdatasync on any descriptor of that inode flushes its data. identity()
 * lets the state-file guard notice if the file was nevertheless replaced (deleted by hand).
 */
export class WalSync {
  private waiting: Waiting[] = [];
  private syncing = false;
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly fd: number,
    private readonly walPath: string,
    private readonly sync: SyncFunction,
  ) {}

  /**
   * Opens the WAL file of an open WAL-mode database at `databasePath` (SQLite creates it on open),
   * and makes its directory entry durable once, as SQLite does on a journal's first sync.
   */
  static open(databasePath: string, sync: SyncFunction = fdatasync): WalSync {
    const walPath = `${databasePath}-wal`;
    const fd = openSync(walPath, 'r+');
    try {
      const directory = openSync(dirname(walPath), 'r');
      try {
        fsyncSync(directory);
      } finally {
        closeSync(directory);
      }
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new WalSync(fd, walPath, sync);
  }

  /**
   * Runs `effect` and resolves once everything committed before this call is on disk. Effects run
   * in the order of their settle() calls. Rejects if the flush failed: after a failed fsync the
   * kernel may have dropped the pages, so nothing written since can be trusted to be durable.
   */
  settle(effect: () => void): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('state file is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ effect, resolve, reject });
      if (!this.syncing) this.flush();
    });
  }

  /** Why commits cannot be made durable any more, or undefined. */
  get problem(): string | undefined {
    return this.failure?.message;
  }

  /** Whether the WAL file at its path is still the one being flushed (a stat; false once replaced or deleted). */
  isSameFile(): boolean {
    try {
      const open = fstatSync(this.fd);
      const current = statSync(this.walPath);
      return open.ino === current.ino && open.dev === current.dev;
    } catch {
      return false;
    }
  }

  /** Waits until everything handed in so far is flushed (or refused), then closes the descriptor. */
  async close(): Promise<void> {
    if (this.closed) return;
    // Batches settle in order: once this one has, every earlier one has too. Idle: nothing to wait for.
    if (this.syncing || this.waiting.length > 0) await this.settle(() => undefined).catch(() => undefined);
    this.closed = true;
    closeSync(this.fd);
  }

  private flush(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.syncing = true;
    this.sync(this.fd, (error) => {
      this.syncing = false;
      if (error && !this.failure) {
        this.failure = new Error(`cannot flush the state file's write-ahead log to disk (${error.code ?? error.message}): restart the exporter`);
      }
      for (const entry of batch) {
        if (this.failure) {
          entry.reject(this.failure);
          continue;
        }
        try {
          entry.effect();
        } catch (effectError) {
          entry.reject(effectError instanceof Error ? effectError : new Error(String(effectError)));
          continue;
        }
        entry.resolve();
      }
      if (this.failure) {
        for (const entry of this.waiting.splice(0)) entry.reject(this.failure);
        return;
      }
      if (this.waiting.length > 0) this.flush();
    });
  }
}
