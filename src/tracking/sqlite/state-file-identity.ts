import { statSync } from 'node:fs';

/**
 * Which file the store opened, to notice when the file at the configured path is no longer it.
 * SQLite keeps writing to a file that was deleted (or renamed over) while open: every commit then
 * "succeeds" into a file nobody will ever open again, and everything acknowledged from then on is
 * lost at the next restart. The path's device and inode tell the open file from its replacement.
 */
export class StateFileIdentity {
  private constructor(
    private readonly path: string,
    private readonly device: number,
    private readonly inode: number,
  ) {}

  /** Captures the identity of the file at `path` now (right after opening it). */
  static capture(path: string): StateFileIdentity | undefined {
    if (path === ':memory:' || path === '') return undefined;
    const stats = statSync(path);
    return new StateFileIdentity(path, stats.dev, stats.ino);
  }

  /** Why the file at the path is not the one opened, or undefined while it still is. */
  problem(): string | undefined {
    let stats;
    try {
      stats = statSync(this.path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (code === 'ENOENT') return `state file ${this.path} was deleted while the exporter had it open`;
      return `state file ${this.path} can no longer be checked (${code})`;
    }
    if (stats.dev !== this.device || stats.ino !== this.inode) {
      return `state file ${this.path} was replaced by another file while the exporter had it open`;
    }
    return undefined;
  }
}
