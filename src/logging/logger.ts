import { pino, type Logger } from 'pino';
import { formatLogfmt } from './logfmt.js';
import { TurnBufferedStream } from './turn-buffer.js';

export type { Logger } from 'pino';

/**
 * Structured logs (JSON lines, or logfmt) on stderr (stdout stays free for --check-config output). Fixed messages,
 * structured fields. Keys that could carry secrets or personal data are censored wherever they appear.
 */
export const redactedPaths = [
  'connectionString',
  '*.connectionString',
  'sharedAccessKey',
  '*.sharedAccessKey',
  'masterKey',
  '*.masterKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'apiTokens',
  '*.apiTokens',
  'token',
  '*.token',
  'notificationBody',
  '*.notificationBody',
  'pnsHandle',
  '*.pnsHandle',
];

/** The levels an operator can choose (`--log.level`), most verbose first; `trace` is kept for old scripts. */
export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
const acceptedLevels: readonly string[] = ['trace', ...logLevels];
export const logFormats = ['json', 'logfmt'] as const;
export type LogFormat = (typeof logFormats)[number];

/** What the command line chose: `--log.level` and `--log.format`. */
export interface LoggingChoice {
  level: string;
  format: LogFormat;
}

export function isLogLevel(value: string): boolean {
  return acceptedLevels.includes(value);
}

export function isLogFormat(value: string): value is LogFormat {
  return (logFormats as readonly string[]).includes(value);
}

export interface LoggerOptions {
  level?: string;
  /** `json` (one JSON object per line, the default) or `logfmt` (key=value pairs, as Go exporters write). */
  format?: LogFormat;
  destination?: NodeJS.WritableStream | number;
  /**
   * Messages the code logs at info that this logger writes at debug instead, each reported to
   * `onDemoted` (the demo turns its per-notification failure lines into a summary a minute).
   */
  demote?: { messages: ReadonlySet<string>; onDemoted?: (message: string) => void };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? 2;
  // A file descriptor (stderr by default): written synchronously (nothing is lost at exit), the
  // lines of one turn of the event loop in one write (turn-buffer.ts).
  const stream = typeof destination === 'number' ? new TurnBufferedStream(pino.destination({ fd: destination, sync: true }), isUrgentLine) : destination;
  const demote = options.demote;
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: 'push-notification-exporter' },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      ...(demote && {
        hooks: {
          logMethod(args, method, level) {
            const message = typeof args[0] === 'string' ? args[0] : args[1];
            if (level !== pino.levels.values.info || typeof message !== 'string' || !demote.messages.has(message)) {
              method.apply(this, args);
              return;
            }
            demote.onDemoted?.(message);
            this.debug(...args);
          },
        },
      }),
    },
    options.format === 'logfmt' ? logfmtStream(stream) : stream,
  );
}

/**
 * pino writes one JSON line per record; this turns each into a logfmt line on the way out (no
 * worker-thread transport: writes stay synchronous, so nothing is lost when the process exits).
 */
function logfmtStream(target: { write(text: string): unknown }): { write(line: string): void } {
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        target.write(line);
        return;
      }
      const { time, ...rest } = record;
      target.write(`${formatLogfmt({ ts: time, ...rest }, ['ts', 'level', 'msg'])}\n`);
    },
  };
}

/** Lines at warn and above (JSON or logfmt, as formatted here) are written at once, not at the end of the turn. */
const routineLine = /^(?:\{"level":"|ts=\S* level=)(?:info|debug|trace)\b/;

function isUrgentLine(line: string): boolean {
  return !routineLine.test(line);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
