import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExporterProcess, httpGet } from '../support/exporter-process.js';
import { groupBy, parsePrometheusText, sumOf, type Sample } from '../support/prometheus-text.js';

/** `npm run demo` runs `node dist/main.js --demo`: the same entry point, as a newcomer would start it. */
describe('the demo', () => {
  const folder = mkdtempSync(join(tmpdir(), 'pne-demo-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('shows both sources working within a minute and stops cleanly on Ctrl-C', async () => {
    const demo = ExporterProcess.start(['--demo', '--listen', '127.0.0.1:0', '--data-dir', folder]);
    const deadline = Date.now() + 60_000;
    let metricsUrl: string | undefined;
    while (!metricsUrl && Date.now() < deadline) {
      metricsUrl = /metrics:\s+(\S+)/.exec(demo.stdout)?.[1];
      if (!metricsUrl) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(demo.stdout).toMatch(/intake token: \S{20,}/);

    const ready = (samples: Sample[]) => {
      const azurePlatforms = groupBy(samples, 'push_notification_outcomes_total', ['platform'], { source: 'azure_notification_hubs' });
      const everlivePlatforms = groupBy(samples, 'push_notification_outcomes_total', ['platform'], { source: 'everlive' });
      const up = samples.filter((sample) => sample.name === 'push_notification_source_up');
      return (
        azurePlatforms.size >= 2 &&
        everlivePlatforms.size >= 2 &&
        sumOf(samples, 'push_notification_messages_total', { state: 'Abandoned' }) >= 1 &&
        // Each hub is read both ways (per-message telemetry and Azure Monitor), plus the Everlive app.
        up.length === 7 &&
        up.every((sample) => sample.value === 1)
      );
    };
    let samples: Sample[] = [];
    while (Date.now() < deadline) {
      samples = parsePrometheusText((await httpGet(metricsUrl as string)).text);
      if (ready(samples)) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform'], { source: 'azure_notification_hubs' }).size).toBeGreaterThanOrEqual(2);
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform'], { source: 'everlive' }).size).toBeGreaterThanOrEqual(2);
    expect(sumOf(samples, 'push_notification_messages_total', { state: 'Abandoned' })).toBeGreaterThanOrEqual(1);
    expect(groupBy(samples, 'push_notification_source_up', ['target'])).toEqual(
      new Map([
        ['demo-orders', 2],
        ['demo-marketing', 2],
        ['demo-alerts', 2],
        ['demo-legacy-app', 1],
      ]),
    );

    demo.kill('SIGINT');
    expect(await demo.exit()).toEqual({ code: 0, signal: null });
  });
});
