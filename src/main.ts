#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, type ExporterConfig } from './config/load.js';
import { startExporter } from './exporter.js';
import { createLogger, type Logger } from './logging/logger.js';
import { StoreError } from './tracking/storage.js';
import { version } from './version.js';
import { waitForSignal } from './wait-for-signal.js';

const usage = `Usage: push-notification-exporter --config FILE [--check-config] [--log-level LEVEL]
       push-notification-exporter --demo [--listen HOST:PORT] [--data-dir DIR]
       push-notification-exporter --config FILE --migrate-state FROM_SQLITE

  --config FILE      YAML configuration file (see README.md "Configuration")
  --check-config     validate the configuration and exit (0 = valid)
  --migrate-state FROM_SQLITE
                     copy a SQLite state file into the (empty) PostgreSQL database of the
                     config's storage.postgres, counters under its replicaId, then exit
  --demo             run on the built-in simulators with generated traffic
  --listen HOST:PORT with --demo: where to serve (default 127.0.0.1:10130)
  --data-dir DIR     with --demo: the demo's state folder (default ./data/demo)
  --log-level LEVEL  trace, debug, info (default), warn, error
  --version          print the version
  --help             print this help`;

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        'check-config': { type: 'boolean', default: false },
        'migrate-state': { type: 'string' },
        demo: { type: 'boolean', default: false },
        listen: { type: 'string' },
        'data-dir': { type: 'string' },
        'log-level': { type: 'string' },
        version: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`push-notification-exporter ${version} (Node.js ${process.version})\n`);
    return 0;
  }
  if (!args.demo && (args.listen !== undefined || args['data-dir'] !== undefined)) {
    process.stderr.write(`--listen and --data-dir go with --demo; with --config, set server.listen and storage.path\n`);
    return 2;
  }
  if (args.demo) {
    const { runDemo } = await import('./simulator/demo.js');
    return runDemo({ logLevel: args['log-level'], listen: args.listen, dataDirectory: args['data-dir'] });
  }
  if (!args.config) {
    process.stderr.write(`--config FILE is required (or --demo to try it on the simulator)\n\n${usage}\n`);
    return 2;
  }

  let config;
  try {
    config = loadConfigFile(args.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${args.config}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (args['check-config']) {
    process.stdout.write(
      `${args.config}: configuration is valid (${config.azureNotificationHubs.length} Azure Notification Hubs targets, ` +
        `${config.everlive.length} Everlive apps)\n`,
    );
    return 0;
  }

  const logger = createLogger({ level: args['log-level'] });
  if (args['migrate-state'] !== undefined) return migrateState(args['migrate-state'], config, logger);
  let exporter;
  try {
    exporter = await startExporter({ config, logger });
  } catch (error) {
    if (error instanceof StoreError) {
      logger.fatal({ error: firstLines(error.message, 6) }, 'cannot open the state file');
      return 1;
    }
    logger.fatal({ error: error instanceof Error ? error.message : String(error) }, 'cannot start');
    return 1;
  }
  logger.info({ url: exporter.url, metrics: `${exporter.url}/metrics`, version }, 'exporter started');
  await waitForSignal();
  logger.info('stopping: finishing in-flight polls and writes');
  await exporter.stop();
  const problem = exporter.storageProblem();
  if (problem !== undefined) {
    // Not a clean stop: what was acknowledged after the loss is gone. Say so to the supervisor too.
    logger.error({ problem }, 'stopped after the state storage was lost');
    return 1;
  }
  logger.info('stopped');
  return 0;
}

/** `--migrate-state FROM_SQLITE`: SQLite → PostgreSQL, with the exporter stopped (README "High availability"). */
async function migrateState(from: string, config: ExporterConfig, logger: Logger): Promise<number> {
  if (!config.storage.postgres) {
    logger.fatal({ from }, '--migrate-state needs storage.postgres in the config: the database to migrate into');
    return 2;
  }
  const { migrateSqliteToPostgres } = await import('./tracking/migrate-state.js');
  try {
    const summary = await migrateSqliteToPostgres(from, config.storage.postgres);
    logger.info({ from, replicaId: summary.replicaId, rows: summary.rows }, 'state migrated to PostgreSQL');
    return 0;
  } catch (error) {
    logger.fatal({ from, error: firstLines(error instanceof Error ? error.message : String(error), 6) }, 'cannot migrate the state');
    return 1;
  }
}

/** An integrity-check report can run to hundreds of lines: keep the start, say how much was left out. */
function firstLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.length <= count ? text : `${lines.slice(0, count).join('\n')}\n… (${lines.length - count} more lines)`;
}

// Exit explicitly: a failed start must not linger on a stray timer, and a clean stop is done.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fatal: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
