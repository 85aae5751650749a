#!/usr/bin/env node
import { parseCommandLine, type Command, type ConfigOverrides } from './cli/arguments.js';
import { ConfigError, loadConfigFile, type ExporterConfig, type LoadOptions } from './config/load.js';
import { startExporter } from './exporter.js';
import { createLogger, type Logger } from './logging/logger.js';
import { StoreError } from './tracking/storage.js';
import { version } from './version.js';
import { waitForSignal } from './wait-for-signal.js';

async function main(argv: string[]): Promise<number> {
  const command = parseCommandLine(argv);
  switch (command.kind) {
    case 'usage-error':
      // One line, naming the flag; the full usage is one --help away.
      process.stderr.write(`push-notification-exporter: ${command.message} (see --help)\n`);
      return 2;
    case 'help':
      process.stdout.write(`${command.text}\n`);
      return 0;
    case 'version':
      process.stdout.write(`push-notification-exporter ${version} (Node.js ${process.version})\n`);
      return 0;
    case 'demo': {
      const { runDemo } = await import('./simulator/demo.js');
      return runDemo({ logging: command.logging, listen: command.listen, dataDirectory: command.dataDirectory });
    }
    case 'simulate': {
      const { runSimulate } = await import('./simulator/simulate.js');
      return runSimulate({ logging: command.logging, listen: command.listen, writeConfig: command.writeConfig, exporterAddress: command.exporterAddress });
    }
    case 'check':
    case 'run':
    case 'migrate':
      return runWithConfig(command);
  }
}

async function runWithConfig(command: Extract<Command, { kind: 'check' | 'run' | 'migrate' }>): Promise<number> {
  let config;
  try {
    config = loadConfigFile(command.configFile, { overrides: overridesOf(command.overrides) });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${command.configFile}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (command.kind === 'check') {
    process.stdout.write(
      `${command.configFile}: configuration is valid (${config.azureNotificationHubs.length} Azure Notification Hubs targets, ` +
        `${config.everlive.length} Everlive apps)\n`,
    );
    return 0;
  }

  const logger = createLogger(command.logging);
  if (command.kind === 'migrate') return migrateState(command.from, config, logger);
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
  logger.info({ address: exporter.address, url: exporter.url, metrics: `${exporter.url}/metrics`, version }, 'exporter started');
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

function overridesOf(overrides: ConfigOverrides): LoadOptions['overrides'] {
  return {
    listen: overrides.listen === undefined ? undefined : { value: overrides.listen, source: '--web.listen-address' },
    webConfigFile: overrides.webConfigFile === undefined ? undefined : { value: overrides.webConfigFile, source: '--web.config.file' },
  };
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
