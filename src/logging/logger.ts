import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON logs on stderr (stdout stays free for --check-config output). Fixed messages,
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

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream | number } = {}): Logger {
  const destination = options.destination ?? 2;
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: 'push-notification-exporter' },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination,
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
