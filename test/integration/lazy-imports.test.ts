import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mainScript, requireBuild } from '../support/exporter-process.js';

/**
 * @azure/identity and pg cost megabytes of heap and RSS in every process that imports them (issue
 * 15): the built exporter must import them only when an Azure Monitor target, or storage.postgres,
 * is configured. A module hook preloaded into the real process records every package it resolves.
 */
describe('optional dependencies are imported only when configured', () => {
  let folder: string;
  let preload: string;

  beforeAll(() => {
    requireBuild();
    folder = mkdtempSync(join(tmpdir(), 'pne-lazy-'));
    // Resolve hooks run on Node's loader thread; a file is the simplest way back from there.
    const hooks = join(folder, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.RESOLVED_LOG, result.url + '\\n');
  return result;
}
`,
    );
    preload = join(folder, 'preload.mjs');
    writeFileSync(preload, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  /** Starts the exporter with `config`, waits until it serves, stops it; returns the packages it resolved. */
  async function packagesResolved(name: string, config: unknown): Promise<Set<string>> {
    const configPath = join(folder, `${name}.json`);
    const log = join(folder, `${name}.resolved`);
    writeFileSync(configPath, JSON.stringify(config));
    writeFileSync(log, '');
    const child = spawn(process.execPath, ['--import', pathToFileURL(preload).href, mainScript, '--config', configPath], {
      env: { ...process.env, RESOLVED_LOG: log },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 15_000;
    while (!stderr.includes('"exporter started"')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the exporter did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const packages = new Set<string>();
    for (const url of readFileSync(log, 'utf8').split('\n')) {
      const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
      if (match?.[1]) packages.add(match[1]);
    }
    return packages;
  }

  const notificationHub = {
    name: 'prod',
    connectionString: 'Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=bm90LWEtcmVhbC1rZXk=',
    hub: 'my-hub',
    endpoint: 'http://127.0.0.1:9',
  };

  it('a state file and no Azure Monitor target: neither @azure/identity nor pg', async () => {
    const packages = await packagesResolved('sqlite', {
      server: { listen: '127.0.0.1:0' },
      storage: { path: join(folder, 'sqlite', 'state.db') },
      azureNotificationHubs: [notificationHub],
    });
    // The hook does see the packages the exporter always uses.
    expect(packages).toContain('better-sqlite3');
    expect(packages).toContain('undici');
    expect(packages).not.toContain('@azure/identity');
    expect(packages).not.toContain('pg');
  });

  it('an Azure Monitor target: @azure/identity, still not pg', async () => {
    const packages = await packagesResolved('monitor', {
      server: { listen: '127.0.0.1:0' },
      storage: { path: join(folder, 'monitor', 'state.db') },
      azureNotificationHubs: [notificationHub],
      azureMonitor: [
        {
          name: 'metrics',
          resourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.NotificationHubs/namespaces/ns/notificationHubs/my-hub',
          tenantId: 'contoso.onmicrosoft.com',
          clientId: '00000000-0000-0000-0000-000000000000',
          clientSecret: 'not-a-real-secret',
          endpoint: 'https://127.0.0.1:9',
          authorityHost: 'https://127.0.0.1:9',
        },
      ],
    });
    expect(packages).toContain('@azure/identity');
    expect(packages).not.toContain('pg');
  });
});
