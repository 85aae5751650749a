import { copyFileSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { ExporterProcess, httpGet } from '../support/exporter-process.js';
import { waitFor } from '../support/wait.js';

const token = 'state-file-loss-token-0123456789';
const key = 'c3RhdGUtZmlsZS1sb3NzLWtleQ==';

async function post(url: string, notificationId: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await request(`${url}/api/v1/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ target: 'prod', notificationId }),
  });
  return { status: response.statusCode, json: (await response.body.json()) as Record<string, unknown> };
}

/**
 * The state file deleted or replaced under the running process (an operator's rm, a restore over
 * it, a volume remounted): SQLite would go on committing into the unlinked file. The real process
 * must notice, stop acknowledging, say so once, and exit non-zero when stopped.
 */
describe('state file lost while running', () => {
  let folder: string;
  let simulator: NotificationHubsSimulator;
  let exporter: ExporterProcess | undefined;

  afterEach(async () => {
    if (exporter?.child.exitCode === null) exporter.kill('SIGKILL');
    await simulator?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  async function start(): Promise<{ url: string; statePath: string }> {
    folder = mkdtempSync(join(tmpdir(), 'pne-state-loss-'));
    simulator = new NotificationHubsSimulator({ namespace: 'contoso', hubs: [{ name: 'orders', keys: { listen: key } }] });
    await simulator.start();
    const statePath = join(folder, 'data', 'state.db');
    const configPath = join(folder, 'config.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        server: { listen: '127.0.0.1:0', apiTokens: [token] },
        storage: { path: statePath },
        azureNotificationHubs: [
          {
            name: 'prod',
            connectionString: `Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=${key}`,
            hub: 'orders',
            endpoint: simulator.url,
          },
        ],
      }),
    );
    exporter = ExporterProcess.start(['--config', configPath]);
    const url = await exporter.waitForStart();
    return { url, statePath };
  }

  it.each([
    ['deleted', (path: string) => unlinkSync(path)],
    [
      'replaced by a copy',
      (path: string) => {
        copyFileSync(path, `${path}.copy`);
        renameSync(`${path}.copy`, path);
      },
    ],
  ])('%s: intake and readiness answer 503, one error is logged, SIGTERM exits non-zero', async (_name, lose) => {
    const { url, statePath } = await start();
    expect((await post(url, 'before-the-loss')).status).toBe(202);
    expect((await httpGet(`${url}/-/ready`)).status).toBe(200);

    lose(statePath);
    // Noticed at the latest by the periodic check (every 5 s), here already by the next intake.
    const refused = await waitFor(
      async () => {
        const answer = await post(url, `after-the-loss-${Date.now()}`);
        return answer.status === 202 ? undefined : answer;
      },
      { description: 'intake to refuse after the state file was lost', timeoutMilliseconds: 30_000, intervalMilliseconds: 500 },
    );
    expect(refused.status).toBe(503);
    expect(String(refused.json.error)).toContain('deleted or replaced');
    expect((await httpGet(`${url}/-/ready`)).status).toBe(503);
    expect((await post(url, 'still-after-the-loss')).status).toBe(503);

    const errors = () =>
      (exporter?.stderr ?? '')
        .split('\n')
        .filter((line) => line.includes('"state storage lost'));
    expect(errors()).toHaveLength(1);
    expect(errors()[0]).toMatch(/was (deleted|replaced)/);

    exporter?.kill('SIGTERM');
    const exit = await exporter?.exit();
    expect(exit?.code).not.toBe(0);
    expect(exit?.code).not.toBeNull();
    expect(exporter?.stderr).toContain('stopped after the state storage was lost');
  });

  it('noticed by the periodic check alone, with no request at all', async () => {
    const { url, statePath } = await start();
    unlinkSync(statePath);
    await waitFor(() => ((exporter?.stderr ?? '').includes('"state storage lost') ? true : undefined), {
      description: 'the error line from the periodic check',
      timeoutMilliseconds: 30_000,
    });
    expect((await httpGet(`${url}/-/ready`)).status).toBe(503);
  });
});
