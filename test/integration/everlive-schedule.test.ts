import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startExporter } from '../../src/exporter.js';
import { silentLogger } from '../../src/logging/logger.js';
import { EverliveSimulator } from '../../src/simulator/everlive/server.js';

/** The real node-cron schedule, in real time: runs happen by themselves and never overlap. */
describe('Everlive schedule', () => {
  it('runs on its cron schedule and never overlaps a slow run', async () => {
    const everlive = new EverliveSimulator({ appId: 'app', masterKey: 'key' });
    await everlive.start();
    const folder = mkdtempSync(join(tmpdir(), 'pne-cron-'));
    const id = everlive.createNotification({ platforms: ['4'] });
    everlive.addFeedback(id, '4', { Sent: 2 });
    // Every answer takes 1.5 s while the schedule fires every second.
    everlive.injectFault({ kind: 'delay', milliseconds: 1_500 });
    const exporter = await startExporter({
      config: parseConfig(
        JSON.stringify({
          server: { listen: '127.0.0.1:0' },
          storage: { path: join(folder, 'state.db') },
          everlive: [{ name: 'legacy', endpoint: everlive.url, appId: 'app', masterKey: 'key', schedule: '* * * * * *' }],
        }),
      ),
      logger: silentLogger(),
      processMetrics: false,
    });
    try {
      const deadline = Date.now() + 20_000;
      while (everlive.requests.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(everlive.requests.length).toBeGreaterThanOrEqual(3);
      expect(everlive.maximumConcurrentRequests).toBe(1);
    } finally {
      await exporter.stop();
      await everlive.stop();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
