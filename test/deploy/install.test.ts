import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { repositoryRoot } from '../support/dashboards.js';
import { execForm, inImage, mapArguments, parseDockerfile, runStage } from '../support/dockerfile.js';
import { hubKey, intakeToken } from '../support/harness.js';
import { freePort } from '../support/prometheus-stack.js';
import { waitFor } from '../support/wait.js';

/**
 * The documented installs, run for real from a clean copy of the repository's files (git ls-files,
 * as a fresh clone has them), then the built exporter started from there:
 *
 * - README "systemd": `npm ci && npm run build && npm prune --omit=dev` in the install folder, then
 *   the unit's ExecStart with its WorkingDirectory and EnvironmentFile; SIGTERM stops it with 0.
 * - every step of the Dockerfile, without a Docker engine (test/support/dockerfile.ts): each stage in
 *   a folder standing for its image, then ENTRYPOINT + CMD from the runtime stage's WORKDIR, with the
 *   default storage.path, and its HEALTHCHECK on a port that is not 10130.
 *
 * One test, one `npm ci`: installing better-sqlite3 compiles SQLite from source. Measured on this
 * 2-core machine, shared with others: the whole test 134 s, nearly all of it npm ci (offline, from
 * the npm cache that .ci/run's own npm ci filled; 2 min 21 s when run by hand), each build 12 s,
 * each prune 3 s. The Dockerfile's `RUN npm ci` takes a hard-linked copy of that install instead of
 * compiling again; every other RUN step runs as written.
 */

const installTimeoutMilliseconds = 12 * 60_000;
// npm reads npm_config_* from the environment: no registry, no audit, no update check.
const npmEnvironment = { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

function sh(command: string, cwd: string): void {
  const result = spawnSync('sh', ['-c', command], { cwd, env: npmEnvironment, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} (in ${cwd}) failed with ${result.status}:\n${result.stdout}\n${result.stderr}`);
}

/** The files a clean clone has: tracked, plus new ones not ignored (so a local run sees uncommitted work). */
function copyRepository(destination: string): void {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repositoryRoot, encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    const source = join(repositoryRoot, file);
    if (!existsSync(source)) continue;
    mkdirSync(dirname(join(destination, file)), { recursive: true });
    cpSync(source, join(destination, file));
  }
}

/** The systemd install step as README "systemd" prints it, and as the unit's header repeats it. */
function documentedInstallStep(): string {
  const readme = readFileSync(join(repositoryRoot, 'README.md'), 'utf8');
  const section = /^### systemd\n([\s\S]*?)^#{2,3} /m.exec(readme)?.[1] ?? '';
  const step = /^(npm ci && .*)$/m.exec(section)?.[1];
  if (!step) throw new Error('README "systemd" has no line starting with "npm ci &&"');
  return step;
}

function folderSize(path: string): number {
  const entry = statSync(path);
  if (!entry.isDirectory()) return entry.size;
  return readdirSync(path).reduce((total, name) => total + folderSize(join(path, name)), 0);
}

/** Every file below `path`, relative to it. */
function filesBelow(path: string): string[] {
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(path, join(entry.parentPath, entry.name)))
    .sort();
}

interface Running {
  child: ChildProcess;
  output: () => string;
  url: string;
}

async function startExporter(node: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, port: number): Promise<Running> {
  const child = spawn(node, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`the exporter exited with ${child.exitCode}: ${output}`);
      const response = await request(`${url}/-/ready`);
      await response.body.dump();
      return response.statusCode === 200 ? true : undefined;
    },
    { description: `the exporter to be ready at ${url}`, timeoutMilliseconds: 30_000 },
  ).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${String(error)}\n${output}`);
  });
  return { child, output: () => output, url };
}

async function stopWithSigterm(running: Running): Promise<number | null> {
  const exited = once(running.child, 'exit') as Promise<[number | null]>;
  running.child.kill('SIGTERM');
  const [code] = await exited;
  return code;
}

/** What a sender does first: one notification ID in, stored durably (the SQLite addon works). */
async function intakeOne(url: string, notificationId: string): Promise<void> {
  const response = await request(`${url}/api/v1/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${intakeToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ target: 'orders', notificationId }),
  });
  expect(response.statusCode, await response.body.text()).toBe(202);
}

function exporterConfig(port: number, simulatorUrl: string, storagePath?: string): string {
  return [
    'server:',
    `  listen: "127.0.0.1:${port}"`,
    '  apiTokens: ["${INTAKE_TOKEN}"]',
    ...(storagePath ? ['storage:', `  path: ${storagePath}`] : []),
    'azureNotificationHubs:',
    '  - name: orders',
    '    connectionString: "${NH_CONNECTION_STRING}"',
    '    hub: orders',
    `    endpoint: ${simulatorUrl}`,
    '',
  ].join('\n');
}

describe('the documented installs, in a clean folder', () => {
  const folder = mkdtempSync(join(tmpdir(), 'pne-install-'));
  const children: ChildProcess[] = [];
  let simulator: NotificationHubsSimulator | undefined;
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await simulator?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  it(
    'build and run: systemd from its install folder, the Dockerfile stage by stage',
    async () => {
      simulator = new NotificationHubsSimulator({ namespace: 'contoso', hubs: [{ name: 'orders', keys: { DefaultListenSharedAccessSignature: hubKey } }] });
      await simulator.start();
      const environment = { ...process.env, INTAKE_TOKEN: intakeToken, NH_CONNECTION_STRING: simulator.connectionString('orders') };
      const context = join(folder, 'clone');
      copyRepository(context);

      // systemd: the install folder is a copy of the repository (/opt/push-notification-exporter).
      const install = join(folder, 'opt', 'push-notification-exporter');
      cpSync(context, install, { recursive: true });
      const steps = documentedInstallStep().split(' && ');
      expect(steps).toEqual(['npm ci', 'npm run build', 'npm prune --omit=dev']);
      const unit = readFileSync(join(install, 'deploy/systemd/push-notification-exporter.service'), 'utf8');
      expect(unit).toContain(documentedInstallStep());
      sh(steps[0] as string, install);

      // Docker, build stage: RUN npm ci takes a hard-linked copy of the install above.
      const stages = parseDockerfile(readFileSync(join(context, 'Dockerfile'), 'utf8'));
      expect(stages.map((stage) => stage.name)).toEqual(['build', 'runtime']);
      const stageFolders = new Map<string, string>();
      const build = runStage(stages[0] as (typeof stages)[0], join(folder, 'stage-build'), {
        context,
        stages: stageFolders,
        env: npmEnvironment,
        run: (command, cwd) => {
          if (command.startsWith('apt-get ')) {
            // The toolchain the Dockerfile installs is the one better-sqlite3 was just built with here.
            for (const tool of ['python3', 'make', 'g++']) expect(spawnSync(tool, ['--version']).status, tool).toBe(0);
            return true;
          }
          if (command !== 'npm ci') return false;
          expect(spawnSync('cp', ['-al', join(install, 'node_modules'), join(cwd, 'node_modules')]).status).toBe(0);
          return true;
        },
      });
      stageFolders.set('build', build.root);

      for (const step of steps.slice(1)) sh(step, install);
      expect(existsSync(join(install, 'dist/main.js'))).toBe(true);
      expect(existsSync(join(install, 'node_modules/typescript'))).toBe(false);

      // Docker, runtime stage: RUN mkdir/chown stand for folders of the image (no users to chown to here).
      const runtime = runStage(stages[1] as (typeof stages)[0], join(folder, 'stage-runtime'), {
        context,
        stages: stageFolders,
        run: (command) => {
          const made = /^mkdir -p ((?:\/\S+ ?)+) && chown node:node \/data$/.exec(command);
          if (!made) throw new Error(`unexpected RUN in the runtime stage: ${command}`);
          for (const path of (made[1] as string).trim().split(' ')) mkdirSync(inImage(join(folder, 'stage-runtime'), path), { recursive: true });
          return true;
        },
      });
      expect(runtime.metadata.get('VOLUME')).toBe('["/data"]');
      expect(runtime.metadata.get('USER')).toBe('node');

      // Only what runs: no compiler output, sources or SQLite amalgamation of better-sqlite3, no dev dependencies.
      const addon = inImage(runtime.root, '/app/node_modules/better-sqlite3');
      expect(filesBelow(join(addon, 'build'))).toEqual(['Release/better_sqlite3.node']);
      for (const gone of ['deps', 'src', 'binding.gyp']) expect(existsSync(join(addon, gone)), gone).toBe(false);
      expect(existsSync(join(install, 'node_modules/better-sqlite3/deps'))).toBe(true);
      expect(folderSize(addon)).toBeLessThan(folderSize(join(install, 'node_modules/better-sqlite3')) / 4);
      for (const devDependency of ['typescript', 'vitest', 'eslint']) expect(existsSync(inImage(runtime.root, `/app/node_modules/${devDependency}`)), devDependency).toBe(false);

      // The image, started as ENTRYPOINT + CMD from its WORKDIR, with a config that leaves storage.path at its default.
      const dockerPort = await freePort();
      const dockerConfig = inImage(runtime.root, '/etc/push-notification-exporter/config.yaml');
      writeFileSync(dockerConfig, exporterConfig(dockerPort, simulator.url));
      const [node, ...entrypoint] = execForm(runtime.metadata.get('ENTRYPOINT') as string);
      expect(node).toBe('node');
      const command = mapArguments(runtime.root, [...entrypoint, ...execForm(runtime.metadata.get('CMD') as string)]);
      const image = await startExporter(process.execPath, command, inImage(runtime.root, runtime.workingDirectory), { ...environment, NODE_ENV: 'production' }, dockerPort);
      children.push(image.child);
      await intakeOne(image.url, 'docker-1');
      // The state file is on the volume, not in a data/ folder below it.
      expect(existsSync(inImage(runtime.root, '/data/state.db'))).toBe(true);
      expect(existsSync(inImage(runtime.root, '/data/data'))).toBe(false);
      expect((await request(`${image.url}/readme`)).statusCode).toBe(200);

      // HEALTHCHECK, as Docker runs it: healthy on this port (not 10130), unhealthy once stopped.
      const healthcheck = /^--interval=\S+ --timeout=\S+ --start-period=\S+ --retries=\d+ CMD (\[.*\])$/.exec(runtime.metadata.get('HEALTHCHECK') ?? '');
      expect(dockerPort).not.toBe(10130);
      const [healthNode, ...healthArgs] = execForm(healthcheck?.[1] ?? '[]');
      expect(healthNode).toBe('node');
      const runHealthcheck = () =>
        spawnSync(process.execPath, mapArguments(runtime.root, healthArgs), { env: { ...environment, HEALTHCHECK_PID: String(image.child.pid) }, encoding: 'utf8' });
      const healthy = runHealthcheck();
      expect(healthy.status, healthy.stderr).toBe(0);
      expect(await stopWithSigterm(image)).toBe(0);
      expect(runHealthcheck().status).toBe(1);

      // systemd: ExecStart from the unit, in its WorkingDirectory, with its EnvironmentFile.
      const execStart = /^ExecStart=(.+)$/m.exec(unit)?.[1]?.split(' ') ?? [];
      expect(execStart.slice(0, 3)).toEqual(['/usr/bin/node', '--max-semi-space-size=8', '/opt/push-notification-exporter/dist/main.js']);
      const stateDirectory = join(folder, 'var/lib/push-notification-exporter');
      expect(/^WorkingDirectory=(.+)$/m.exec(unit)?.[1]).toBe('/var/lib/push-notification-exporter');
      mkdirSync(stateDirectory, { recursive: true });
      const servicePort = await freePort();
      const serviceConfig = join(folder, 'etc/push-notification-exporter/config.yaml');
      mkdirSync(dirname(serviceConfig), { recursive: true });
      writeFileSync(serviceConfig, exporterConfig(servicePort, simulator.url, join(stateDirectory, 'state.db')));
      const args = execStart.slice(1).map((argument) =>
        argument.replace('/opt/push-notification-exporter', install).replace('/etc/push-notification-exporter/config.yaml', serviceConfig),
      );
      const service = await startExporter(process.execPath, args, stateDirectory, environment, servicePort);
      children.push(service.child);
      await intakeOne(service.url, 'systemd-1');
      expect(existsSync(join(stateDirectory, 'state.db'))).toBe(true);
      expect((await request(`${service.url}/readme`)).statusCode).toBe(200);
      expect(/^KillSignal=(.+)$/m.exec(unit)?.[1]).toBe('SIGTERM');
      expect(await stopWithSigterm(service)).toBe(0);
    },
    installTimeoutMilliseconds,
  );
});
