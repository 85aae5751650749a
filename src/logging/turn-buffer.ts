/** Where the joined lines go: a synchronous writer (pino's SonicBoom with sync: true). */
export interface LineSink {
  write(text: string): unknown;
}

/** Writers holding lines now; flushed by one 'exit' listener for all of them. */
const holding = new Set<TurnBufferedStream>();
let exitHookInstalled = false;

/** Past this many characters the lines are written at once instead of at the end of the turn. */
const largestBuffer = 64 * 1024;

/**
 * Joins the log lines written during one turn of the event loop into one write, made at the end of
 * that turn (setImmediate), at 64 KiB, or at exit. A poll group's answers are applied in one turn and
 * each may log a line: one write system call for them all instead of one per line. Nothing waits
 * longer than the turn it was logged in; lines at warn and above are written at once (with what
 * is held before them, keeping the order), and a process exit (process.exit() included) writes
 * whatever is held, so what a crash can lose is at most the lines of the turn it interrupted, as
 * with a write per line.
 */
export class TurnBufferedStream {
  private lines: string[] = [];
  private length = 0;
  private scheduled = false;

  constructor(
    private readonly sink: LineSink,
    /** pino's numeric level of each line is not passed to write(): urgent lines are found by their level field. */
    private readonly urgent: (line: string) => boolean,
  ) {}

  write(line: string): void {
    this.lines.push(line);
    this.length += line.length;
    if (this.urgent(line) || this.length >= largestBuffer) {
      this.flush();
      return;
    }
    holding.add(this);
    installExitHook();
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      }).unref();
    }
  }

  /** Writes what is held now (pino's logger.flush() calls it with a callback). */
  flush(callback?: () => void): void {
    holding.delete(this);
    if (this.lines.length > 0) {
      const text = this.lines.length === 1 ? (this.lines[0] as string) : this.lines.join('');
      this.lines = [];
      this.length = 0;
      this.sink.write(text);
    }
    callback?.();
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const stream of [...holding]) stream.flush();
  });
}
