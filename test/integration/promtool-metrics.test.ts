import { describe, expect, it } from 'vitest';
import { Harness } from '../support/harness.js';
import { promtoolAvailable, runPromtool } from '../support/promtool.js';

/** Keeps only the exporter's own families (prom-client's process/nodejs defaults are not ours to lint). */
function exporterFamilies(text: string): string {
  return text
    .split('\n')
    .filter((line) => /^(# (HELP|TYPE) )?push_notification_/.test(line))
    .join('\n')
    .concat('\n');
}

describe.skipIf(!promtoolAvailable())('promtool check metrics on a real scrape', () => {
  it('passes for every exporter family with live data', async () => {
    const harness = await Harness.start();
    try {
      const ids = [
        harness.simulator.createMessage('orders', {
          notReadyMilliseconds: 1_000,
          enqueuedMilliseconds: 500,
          processingMilliseconds: 1_000,
          finalState: 'Completed',
          outcomes: { ApnsOutcomeCounts: { Success: 5, WrongToken: 1 }, WnsOutcomeCounts: { Success: 2 } },
        }),
        harness.simulator.createMessage('orders', {
          notReadyMilliseconds: 1_000,
          enqueuedMilliseconds: 500,
          processingMilliseconds: 60_000,
          finalState: 'Completed',
          outcomes: { FcmV1OutcomeCounts: { Success: 100 } },
        }),
      ];
      await harness.post(ids.map((notificationId) => ({ target: 'orders-target', notificationId })));
      await harness.advance(20_000);
      const text = exporterFamilies(await harness.scrapeText());
      expect(text).toContain('push_notification_outcomes_total{');
      expect(text).toContain('push_notification_queue_duration_seconds_bucket{');
      expect(text).toContain('push_notification_tracked_messages{');
      const result = runPromtool(['check', 'metrics'], text);
      expect(result.output).toBe('');
      expect(result.status).toBe(0);
    } finally {
      await harness.close();
    }
  });
});
