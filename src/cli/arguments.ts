import { parseArgs } from 'node:util';
import { parseListenAddress } from '../config/load.js';
import { isLogFormat, isLogLevel, logLevels, type LoggingChoice } from '../logging/logger.js';

export type { LoggingChoice } from '../logging/logger.js';

/**
 * The command line, in the conventions of node_exporter and blackbox_exporter (`--config.file`,
 * `--web.listen-address`, `--log.level`, ...), with the project's older spellings kept as aliases.
 * Parsing is pure: main.ts acts on the result.
 */
export type Command =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | { kind: 'usage-error'; message: string }
  | { kind: 'check'; configFile: string; overrides: ConfigOverrides; logging: LoggingChoice }
  | { kind: 'run'; configFile: string; overrides: ConfigOverrides; logging: LoggingChoice }
  | { kind: 'migrate'; configFile: string; from: string; overrides: ConfigOverrides; logging: LoggingChoice }
  | { kind: 'demo'; listen?: string; dataDirectory?: string; logging: LoggingChoice }
  | { kind: 'simulate'; listen?: string; writeConfig?: string; exporterAddress?: string; logging: LoggingChoice };

export interface ConfigOverrides {
  /** --web.listen-address: replaces server.listen. */
  listen?: string;
  /** --web.config.file: replaces server.webConfigFile. */
  webConfigFile?: string;
}

/** Each flag once: its aliases, its argument, its default and what it does (the help text is made from this). */
interface FlagSpec {
  name: string;
  aliases?: string[];
  short?: string;
  value?: string;
  help: string;
}

export const exporterFlags: readonly FlagSpec[] = [
  { name: 'help', short: 'h', help: 'Show this help and exit.' },
  { name: 'version', help: 'Print the version and exit.' },
  { name: 'config.file', aliases: ['config'], value: 'FILE', help: 'The YAML configuration file (README "Configuration"). Required unless --demo.' },
  { name: 'config.check', aliases: ['check-config'], help: 'Check the configuration (and the web config file it names) and exit: 0 valid, 2 not.' },
  {
    name: 'web.listen-address',
    aliases: ['listen'],
    value: 'HOST:PORT',
    help: 'Where to serve /metrics, the health endpoints and the API. Overrides server.listen. Default: server.listen (0.0.0.0:10130); with --demo 127.0.0.1:10130.',
  },
  { name: 'web.config.file', value: 'FILE', help: 'TLS and basic auth, in the exporter-toolkit web config format. Overrides server.webConfigFile. Default: none.' },
  { name: 'log.level', aliases: ['log-level'], value: 'LEVEL', help: `Only log messages at this level or above: ${logLevels.join(', ')}. Default: $LOG_LEVEL, else info.` },
  { name: 'log.format', value: 'FORMAT', help: 'Log line format on stderr: json or logfmt. Default: $LOG_FORMAT, else json.' },
  {
    name: 'migrate-state',
    value: 'FROM_SQLITE',
    help: "Copy a SQLite state file into the empty PostgreSQL database of the config's storage.postgres (counter totals under its replicaId, tracked messages, cursors), then exit. Run with the exporter stopped.",
  },
  { name: 'demo', help: 'Run on the built-in simulators with generated traffic (fresh demo state every run). Not with --config.file.' },
  { name: 'data-dir', value: 'DIR', help: "With --demo: the folder of the demo's own state file. Default: ./data/demo." },
];

export const simulateFlags: readonly FlagSpec[] = [
  { name: 'help', short: 'h', help: 'Show this help and exit.' },
  {
    name: 'listen',
    value: 'HOST:PORT',
    help: 'Where the Notification Hubs simulator listens; the Everlive simulator takes the next port (both free ports with :0). Default: 127.0.0.1:18080.',
  },
  { name: 'write-config', value: 'FILE', help: 'Write an exporter configuration pointing at the simulators to FILE. Default: print it on stdout.' },
  {
    name: 'exporter-address',
    value: 'HOST:PORT',
    help: "The written config's server.listen, where the simulated sender forwards each send's Location. Default: 127.0.0.1:10130.",
  },
  { name: 'log.level', aliases: ['log-level'], value: 'LEVEL', help: `${logLevels.join(', ')}. Default: $LOG_LEVEL, else info.` },
  { name: 'log.format', value: 'FORMAT', help: 'json or logfmt. Default: $LOG_FORMAT, else json.' },
];

export function usage(): string {
  return [
    'Usage:',
    '  push-notification-exporter --config.file FILE [flags]            run the exporter',
    '  push-notification-exporter --config.check --config.file FILE     check a configuration and exit',
    '  push-notification-exporter --config.file FILE --migrate-state FROM_SQLITE   SQLite → PostgreSQL',
    '  push-notification-exporter --demo [--web.listen-address HOST:PORT] [--data-dir DIR]',
    '  push-notification-exporter simulate [--listen HOST:PORT] [--write-config FILE]',
    '',
    'Flags:',
    ...flagLines(exporterFlags),
    '',
    'simulate: the Notification Hubs and Everlive simulators alone, with generated traffic, for an',
    'exporter you run yourself on the configuration it writes. Flags of simulate:',
    ...flagLines(simulateFlags),
    '',
    'Exit status: 0 success, 1 failure while running (state file, port), 2 bad flags or configuration.',
  ].join('\n');
}

function flagLines(flags: readonly FlagSpec[]): string[] {
  const left = (flag: FlagSpec) => {
    const names = [`--${flag.name}`, ...(flag.aliases ?? []).map((alias) => `--${alias}`)].join(', ');
    return `  ${flag.short ? `-${flag.short}, ` : '    '}${names}${flag.value ? ` ${flag.value}` : ''}`;
  };
  const width = Math.max(...flags.map((flag) => left(flag).length)) + 4;
  return flags.flatMap((flag) => wrap(flag.help, 100 - width).map((line, index) => (index === 0 ? `${left(flag).padEnd(width)}${line}` : `${' '.repeat(width)}${line}`)));
}

function wrap(text: string, columns: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > columns) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

export function parseCommandLine(argv: readonly string[], environment: NodeJS.ProcessEnv = process.env): Command {
  const simulate = argv[0] === 'simulate';
  const parsed = parseFlags(simulate ? argv.slice(1) : argv, simulate ? simulateFlags : exporterFlags);
  if (typeof parsed === 'string') return { kind: 'usage-error', message: parsed };
  const flag = (name: string) => parsed.values.get(name);
  /** The flag as the user spelt it (`--log-level` or `--log.level`), for error messages. */
  const spelt = (name: string) => `--${parsed.givenAs.get(name) ?? name}`;
  if (flag('help') === true) return { kind: 'help', text: usage() };
  if (flag('version') === true) return { kind: 'version' };

  const logging = loggingChoice(flag('log.level'), flag('log.format'), environment, spelt);
  if (typeof logging === 'string') return { kind: 'usage-error', message: logging };

  if (simulate) {
    for (const name of ['listen', 'exporter-address']) {
      const problem = checkListen(spelt(name), flag(name));
      if (problem) return { kind: 'usage-error', message: problem };
    }
    return { kind: 'simulate', listen: text(flag('listen')), writeConfig: text(flag('write-config')), exporterAddress: text(flag('exporter-address')), logging };
  }

  const listen = text(flag('web.listen-address'));
  const listenProblem = checkListen(spelt('web.listen-address'), listen);
  if (listenProblem) return { kind: 'usage-error', message: listenProblem };
  const configFile = text(flag('config.file'));
  if (flag('demo') === true) {
    const refused = ['config.file', 'config.check', 'web.config.file', 'migrate-state'].find((name) => flag(name) !== undefined);
    if (refused) return { kind: 'usage-error', message: `--demo runs on its own built-in configuration: it does not take ${spelt(refused)}` };
    return { kind: 'demo', listen, dataDirectory: text(flag('data-dir')), logging };
  }
  if (flag('data-dir') !== undefined) return { kind: 'usage-error', message: '--data-dir goes with --demo; with --config.file, set storage.path' };
  if (configFile === undefined) return { kind: 'usage-error', message: '--config.file FILE is required (or --demo, or simulate, to try it on the simulators)' };
  const overrides: ConfigOverrides = { listen, webConfigFile: text(flag('web.config.file')) };
  const from = text(flag('migrate-state'));
  if (from !== undefined) {
    if (flag('config.check') === true) return { kind: 'usage-error', message: `${spelt('migrate-state')} and ${spelt('config.check')} do not go together: check first, then migrate` };
    return { kind: 'migrate', configFile, from, overrides, logging };
  }
  return { kind: flag('config.check') === true ? 'check' : 'run', configFile, overrides, logging };
}

/**
 * The flags by their main name. A flag given twice, or under two of its names, must say the same
 * thing: `--config a.yaml --config.file b.yaml` is refused rather than one silently winning.
 */
function parseFlags(argv: readonly string[], flags: readonly FlagSpec[]): { values: Map<string, string | boolean>; givenAs: Map<string, string> } | string {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple: true }> = {};
  const mainName = new Map<string, string>();
  for (const flag of flags) {
    for (const name of [flag.name, ...(flag.aliases ?? [])]) {
      options[name] = { type: flag.value ? 'string' : 'boolean', multiple: true, ...(name === flag.name && flag.short ? { short: flag.short } : {}) };
      mainName.set(name, flag.name);
    }
  }
  let values: Record<string, (string | boolean)[] | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    return describeParseError(error as Error & { code?: string });
  }
  const result = new Map<string, string | boolean>();
  const givenAs = new Map<string, string>();
  for (const [name, given] of Object.entries(values)) {
    const main = mainName.get(name) as string;
    for (const value of given ?? []) {
      const earlier = result.get(main);
      if (earlier !== undefined && earlier !== value) {
        return `--${givenAs.get(main)} and --${name} disagree (${JSON.stringify(earlier)}, ${JSON.stringify(value)}): give it once`;
      }
      result.set(main, value);
      givenAs.set(main, name);
    }
    if (result.get(main) === '') return `--${name}: needs a value`;
  }
  return { values: result, givenAs };
}

function describeParseError(error: Error & { code?: string }): string {
  const named = /'(-{1,2}[^' ]+)/.exec(error.message)?.[1] ?? '';
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${named}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return error.message.includes('argument missing') ? `${named}: needs a value` : `${named}: takes no value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(error.message)?.[1] ?? ''} (the only command is "simulate", and it comes first)`;
    default:
      return error.message.split('\n')[0] ?? 'bad command line';
  }
}

function loggingChoice(level: unknown, format: unknown, environment: NodeJS.ProcessEnv, spelt: (name: string) => string): LoggingChoice | string {
  const chosenLevel = text(level) ?? environment.LOG_LEVEL ?? 'info';
  const levelSource = level === undefined ? 'LOG_LEVEL' : spelt('log.level');
  if (!isLogLevel(chosenLevel)) return `${levelSource}: "${chosenLevel}" is not a log level (${logLevels.join(', ')})`;
  const chosenFormat = text(format) ?? environment.LOG_FORMAT ?? 'json';
  const formatSource = format === undefined ? 'LOG_FORMAT' : spelt('log.format');
  if (!isLogFormat(chosenFormat)) return `${formatSource}: "${chosenFormat}" is not a log format (json, logfmt)`;
  return { level: chosenLevel, format: chosenFormat };
}

function checkListen(flag: string, value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const address = parseListenAddress(value);
  return typeof address === 'string' ? `${flag}: ${address}` : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
