import { afterEach, describe, expect, it } from 'vitest';
import type { MessagePlan, PnsBlobEncoding } from '../../src/simulator/notification-hubs/message-plan.js';
import { storageBackends } from '../support/backends.js';
import { Harness } from '../support/harness.js';
import { groupBy, parsePrometheusText, sumOf } from '../support/prometheus-text.js';
import { promtoolAvailable, runPromtool } from '../support/promtool.js';

const target = 'orders-target';
const deviceTokenSecret = 'SECRETDEVICETOKENVALUE';
const blobSignature = 'c2ltdWxhdGVkLWJsb2Itc2lnbmF0dXJl';

function failingPlan(outcomes: MessagePlan['outcomes'], blobNotReadyMilliseconds = 0): MessagePlan {
  return {
    notReadyMilliseconds: 1_000,
    enqueuedMilliseconds: 500,
    processingMilliseconds: 2_000,
    finalState: 'Completed',
    outcomes,
    errorDetails: { notReadyMilliseconds: blobNotReadyMilliseconds },
  };
}

const backends = storageBackends();

describe.each(backends.names)('PNS error details, lookup and exemplars (%s)', (backend) => {
  let harness: Harness;
  afterEach(async () => harness?.close());

  it('counts error records exactly and once, fetching a blob again while it answers 404', async () => {
    harness = await Harness.start({ ...backends.options(backend), allowSimulatorBlobs: true });
    const { simulator } = harness;
    const ready = simulator.createMessage('orders', failingPlan({ ApnsOutcomeCounts: { Success: 5, WrongToken: 3 }, FcmV1OutcomeCounts: { InvalidToken: 2, Success: 1 } }));
    const late = simulator.createMessage('orders', failingPlan({ WnsOutcomeCounts: { ExpiredChannel: 4, Success: 2 } }, 90_000));
    const clean = simulator.createMessage('orders', failingPlan({ ApnsOutcomeCounts: { Success: 9 } }));
    await harness.post([ready, late, clean].map((notificationId) => ({ target, notificationId })));
    await harness.advance(30_000);

    let samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_pns_errors_total', ['platform', 'error'], { target })).toEqual(
      new Map([
        ['apns/WrongToken', 3],
        ['fcmv1/InvalidToken', 2],
      ]),
    );
    // Blob requests are logged by the fake as /pnserrors/{hub}/{notificationId}.
    const blobRequests = (id: string) => simulator.requests.filter((request) => request.hub === 'pnserrors' && request.notificationId === id);
    expect(blobRequests(late).map((request) => request.status)).toEqual([404]);
    expect(blobRequests(clean)).toEqual([]);

    await harness.advance(5 * 60_000, 5_000);
    samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_pns_errors_total', ['platform', 'error'], { target })).toEqual(simulator.errorTruth('orders'));
    const lateStatuses = blobRequests(late).map((request) => request.status);
    expect(lateStatuses[0]).toBe(404);
    expect(lateStatuses.at(-1)).toBe(200);
    expect(lateStatuses.filter((status) => status === 200)).toHaveLength(1);

    // Re-reading the details (as after a crash between fetch and bookkeeping) adds nothing.
    await harness.exporter.stop();
    await harness.runSql(`UPDATE azure_error_details SET state = 'pending', next_fetch_at = 0`);
    await harness.startExporter();
    await harness.advance(60_000);
    expect(simulator.requests.filter((request) => request.hub === 'pnserrors' && request.status === 200).length).toBeGreaterThanOrEqual(4);
    samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_pns_errors_total', ['platform', 'error'], { target })).toEqual(simulator.errorTruth('orders'));

    // The lookup API shows the records, device tokens redacted; the blob URL is never shown.
    const lookup = await harness.lookup(target, ready);
    expect(lookup.json).toMatchObject({ state: 'Completed', errorDetails: { state: 'done', lastStatus: '200' } });
    const records = lookup.json.pnsErrors as { platform: string; error: string; pnsHandle: string }[];
    expect(records).toHaveLength(5);
    for (const record of records) expect(record.pnsHandle).toMatch(/^sha256:[0-9a-f]{12}…ALUE$/);

    const failureLines = harness.logLines.filter((line) => line.msg === 'notification finished with failures');
    expect(failureLines.map((line) => line.notificationId).sort()).toEqual([ready, late].sort());
    expect(failureLines.find((line) => line.notificationId === ready)).toMatchObject({
      target,
      failures: 5,
      failureSummary: { WrongToken: 3, InvalidToken: 2 },
      outcomes: { apns: { Success: 5, WrongToken: 3 }, fcmv1: { InvalidToken: 2, Success: 1 } },
    });

    const everything = JSON.stringify(harness.logLines) + (await harness.scrapeText()) + JSON.stringify(lookup.json);
    expect(everything).not.toContain(deviceTokenSecret);
    expect(everything).not.toContain(blobSignature);
  });

  it('reads UTF-16 blobs (either byte order, with or without a BOM) and UTF-8 ones, counting each record exactly', async () => {
    harness = await Harness.start({ ...backends.options(backend), allowSimulatorBlobs: true });
    const { simulator } = harness;
    const encodings: PnsBlobEncoding[] = ['utf-16le-bom', 'utf-16be-bom', 'utf-16le', 'utf-16be', 'utf-8-bom', 'utf-8'];
    const ids = new Map<PnsBlobEncoding, string>();
    encodings.forEach((encoding, index) => {
      const plan = failingPlan({ ApnsOutcomeCounts: { Success: 2, WrongToken: index + 1 }, WnsOutcomeCounts: { ExpiredChannel: 2 } });
      ids.set(encoding, simulator.createMessage('orders', { ...plan, errorDetails: { notReadyMilliseconds: 0, encoding } }));
    });
    await harness.post([...ids.values()].map((notificationId) => ({ target, notificationId })));
    await harness.advance(60_000);

    const samples = await harness.scrape();
    expect(groupBy(samples, 'push_notification_pns_errors_total', ['platform', 'error'], { target })).toEqual(
      new Map([
        ['apns/WrongToken', 1 + 2 + 3 + 4 + 5 + 6],
        ['wns/ExpiredChannel', 2 * 6],
      ]),
    );
    expect(groupBy(samples, 'push_notification_pns_errors_total', ['platform', 'error'], { target })).toEqual(simulator.errorTruth('orders'));
    expect(sumOf(samples, 'push_notification_invalid_items_total', { target })).toBe(0);
    for (const [encoding, id] of ids) {
      const read = harness.logLines.find((line) => line.msg === 'PNS error details read' && line.notificationId === id);
      const expectedEncoding = encoding.replace('-bom', '');
      expect(read, encoding).toMatchObject({ records: encodings.indexOf(encoding) + 3, invalid: 0, encoding: expectedEncoding });
    }
    expect(JSON.stringify(harness.logLines)).not.toContain(deviceTokenSecret);
  });

  it('counts a blob with content but no record as invalid, and says so in the log without its content', async () => {
    harness = await Harness.start({ ...backends.options(backend), allowSimulatorBlobs: true });
    const { simulator } = harness;
    // What a blob read through a proxy that answers 200 with its own page, or stored compressed, looks like.
    const body = `<html><body>Gateway error for device-token-${deviceTokenSecret}</body></html>`;
    const id = simulator.createMessage('orders', { ...failingPlan({ ApnsOutcomeCounts: { Success: 1, WrongToken: 2 } }), errorDetails: { notReadyMilliseconds: 0, body } });
    await harness.post({ target, notificationId: id });
    await harness.advance(60_000);

    const samples = await harness.scrape();
    expect(sumOf(samples, 'push_notification_pns_errors_total', { target })).toBe(0);
    expect(groupBy(samples, 'push_notification_invalid_items_total', ['source', 'reason'], { target })).toEqual(
      new Map([['azure_notification_hubs/invalid_pns_record', 1]]),
    );
    const warnings = harness.logLines.filter((line) => line.msg === 'PNS error details have unreadable parts, counted in invalid_items_total');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warn', target, notificationId: id, invalid: 1, records: 0, encoding: 'utf-8', bytes: Buffer.byteLength(body) });
    expect((await harness.lookup(target, id)).json).toMatchObject({ errorDetails: { state: 'done' }, pnsErrors: [] });
    expect(JSON.stringify(harness.logLines)).not.toContain(deviceTokenSecret);
    expect(JSON.stringify(harness.logLines)).not.toContain(blobSignature);
  });

  it('refuses and logs a blob URL on a host that is not allowed, without fetching it', async () => {
    harness = await Harness.start(backends.options(backend));
    const id = harness.simulator.createMessage('orders', failingPlan({ ApnsOutcomeCounts: { WrongToken: 1 } }));
    await harness.post({ target, notificationId: id });
    await harness.advance(60_000);
    expect(harness.simulator.requests.filter((request) => request.hub === 'pnserrors')).toEqual([]);
    const refused = harness.logLines.filter((line) => line.msg === 'PNS error details URL refused, not fetched');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ target, notificationId: id, host: '127.0.0.1', reason: 'host is not in errorDetails.allowedHosts' });
    expect((await harness.lookup(target, id)).json).toMatchObject({ errorDetails: { state: 'refused' }, pnsErrors: [] });
    expect(JSON.stringify(harness.logLines)).not.toContain(blobSignature);
  });

  it('shows exemplars only when OpenMetrics is negotiated; the plain format stays valid', async () => {
    harness = await Harness.start({ ...backends.options(backend), allowSimulatorBlobs: true });
    const id = harness.simulator.createMessage('orders', failingPlan({ ApnsOutcomeCounts: { Success: 5, WrongToken: 3 } }));
    await harness.post({ target, notificationId: id });
    await harness.advance(30_000);

    const plain = await harness.scrapeText();
    expect(plain).not.toContain('# {');
    expect(plain).not.toContain('# EOF');
    const open = await harness.scrapeText({ accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' });
    expect(open.endsWith('# EOF\n')).toBe(true);
    expect(open).toContain('# TYPE push_notification_outcomes counter');
    expect(open).toMatch(new RegExp(`push_notification_outcomes_total\\{[^}]*outcome="WrongToken"\\} 3 # \\{notification_id="${id}"\\} 3 \\d+\\.\\d{3}`));
    expect(open).not.toMatch(/outcome="Success"\} 5 #/);
    expect(open).toMatch(new RegExp(`push_notification_processing_duration_seconds_bucket\\{[^}]*le="2.5"\\} 1 # \\{notification_id="${id}"\\} 2 `));
    // Same values either way.
    const withoutExemplars = open.replace(/ # \{[^}]*\} \S+ \S+$/gm, '').replace('# EOF\n', '');
    expect(sumOf(parsePrometheusText(withoutExemplars.replace(/^# .*$/gm, '')), 'push_notification_outcomes_total')).toBe(
      sumOf(parsePrometheusText(plain), 'push_notification_outcomes_total'),
    );
    if (promtoolAvailable()) {
      const exporterFamilies = plain.split('\n').filter((line) => /^(# (HELP|TYPE) )?push_notification_/.test(line)).join('\n').concat('\n');
      expect(runPromtool(['check', 'metrics'], exporterFamilies)).toEqual({ status: 0, output: '' });
    }
  });

  it('lists recent notifications newest first, with filters and paging', async () => {
    harness = await Harness.start(backends.options(backend));
    for (let index = 0; index < 7; index += 1) {
      await harness.post({ target, notificationId: `list-${index}` });
      harness.clock.advance(1_000);
    }
    const first = await harness.get(`/api/v1/notifications?target=${target}&limit=3`);
    expect(first.status).toBe(200);
    expect((first.json.items as { notificationId: string }[]).map((item) => item.notificationId)).toEqual(['list-6', 'list-5', 'list-4']);
    const second = await harness.get(`/api/v1/notifications?target=${target}&limit=3&cursor=${String(first.json.nextCursor)}`);
    expect((second.json.items as { notificationId: string }[]).map((item) => item.notificationId)).toEqual(['list-3', 'list-2', 'list-1']);
    const third = await harness.get(`/api/v1/notifications?limit=3&cursor=${String(second.json.nextCursor)}`);
    expect(third.json).toMatchObject({ items: [{ notificationId: 'list-0', state: 'Pending' }], nextCursor: null });
    expect((await harness.get('/api/v1/notifications?state=Completed')).json).toEqual({ items: [], nextCursor: null });
    expect((await harness.get('/api/v1/notifications?state=Bogus')).status).toBe(400);
    expect((await harness.get('/api/v1/notifications?limit=5000')).status).toBe(400);
    expect((await harness.get('/api/v1/notifications?cursor=not-a-cursor')).status).toBe(400);
    expect((await harness.get('/api/v1/notifications?target=nope')).status).toBe(400);
  });
});
