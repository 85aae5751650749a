#!/usr/bin/env node
import { readFileSync, readlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile, parseListenAddress, type ListenAddress } from './config/load.js';

/**
 * The Docker image's HEALTHCHECK: GET /-/healthy where the running exporter listens. The address
 * comes from the exporter's own command line (/proc/<pid>/cmdline, PID 1 in a container, or
 * HEALTHCHECK_PID) and, with --config, from its config file, so a changed server.listen or
 * --listen never marks a healthy container unhealthy. Exit 0 healthy, 1 not (with one line why).
 */

const defaultListen: ListenAddress = { host: '127.0.0.1', port: 10130 };
const timeoutMilliseconds = 4_000;

interface Target {
  url: string;
  tls: boolean;
}

/** The exporter's arguments: what follows the script (…/dist/main.js) in its command line. */
export function exporterArguments(commandLine: readonly string[]): string[] | undefined {
  const script = commandLine.findIndex((argument) => /(^|\/)main\.js$/.test(argument));
  return script < 0 ? undefined : commandLine.slice(script + 1);
}

/** The value of the first of `names` (`--name value` or `--name=value`), if given. */
function option(args: readonly string[], names: readonly string[]): string | undefined {
  for (const [index, argument] of args.entries()) {
    for (const name of names) {
      if (argument === name) return args[index + 1];
      if (argument.startsWith(`${name}=`)) return argument.slice(name.length + 1);
    }
  }
  return undefined;
}

/** Where to ask: an explicit listen flag wins over the config's server.listen, as in the exporter. */
export function healthTarget(args: readonly string[], workingDirectory: string): Target {
  const listenFlag = option(args, ['--web.listen-address', '--listen']);
  const configFile = option(args, ['--config.file', '--config']);
  const config = configFile !== undefined && !args.includes('--demo') ? loadConfigFile(resolve(workingDirectory, configFile)) : undefined;
  let listen = config?.server.listen ?? defaultListen;
  if (listenFlag !== undefined) {
    const parsed = parseListenAddress(listenFlag);
    if (typeof parsed === 'string') throw new Error(`--listen: ${parsed}`);
    listen = parsed;
  }
  const tls = config?.server.web?.tls !== undefined;
  return { url: `${tls ? 'https' : 'http'}://${loopbackFor(listen.host)}:${listen.port}/-/healthy`, tls };
}

/** An exporter bound to every interface answers on loopback; a specific address, on that address. */
function loopbackFor(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function check(target: Target): Promise<string | undefined> {
  return new Promise((resolveCheck) => {
    // The certificate is not what is checked here (it may be self-signed): only that the process answers.
    const send = target.tls ? httpsRequest : httpRequest;
    const request = send(target.url, { timeout: timeoutMilliseconds, rejectUnauthorized: false }, (response) => {
      response.resume();
      resolveCheck(response.statusCode === 200 ? undefined : `${target.url} answered ${response.statusCode}`);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMilliseconds} ms`)));
    request.on('error', (error) => resolveCheck(`${target.url}: ${error.message}`));
    request.end();
  });
}

/** Where a relative --config is resolved; another user's process hides it, and the image's WORKDIR is /. */
function workingDirectoryOf(pid: string): string {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return '/';
  }
}

async function main(): Promise<number> {
  const pid = process.env.HEALTHCHECK_PID ?? '1';
  const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((argument) => argument !== '');
  const args = exporterArguments(commandLine);
  if (!args) {
    process.stderr.write(`process ${pid} is not the exporter (no main.js in its command line)\n`);
    return 1;
  }
  const problem = await check(healthTarget(args, workingDirectoryOf(pid)));
  if (problem !== undefined) process.stderr.write(`unhealthy: ${problem}\n`);
  return problem === undefined ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`unhealthy: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
