import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExporterProcess, httpGet, requireBuild } from '../support/exporter-process.js';
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

/** The parts of a `curl -sS [-X POST] URL -H '…' … [-d '…']` line as the banner prints it. */
function parseCurl(line: string): { method: string; url: string; headers: Record<string, string>; body?: string } {
  const words = [...line.matchAll(/'([^']*)'|(\S+)/g)].map((match) => match[1] ?? (match[2] as string));
  expect(words[0]).toBe('curl');
  const headers: Record<string, string> = {};
  let method = 'GET';
  let url = '';
  let body: string | undefined;
  for (let index = 1; index < words.length; index += 1) {
    const word = words[index] as string;
    if (word === '-X') method = words[++index] as string;
    else if (word === '-H') {
      const [name = '', ...value] = (words[++index] as string).split(':');
      headers[name.trim().toLowerCase()] = value.join(':').trim();
    } else if (word === '-d') body = words[++index];
    else if (!word.startsWith('-')) url = word;
  }
  return { method, url, headers, body };
}

async function runCurl(line: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const { method, url, headers, body } = parseCurl(line);
  const response = await request(url, { method: method as 'GET' | 'POST', headers, body });
  return { status: response.statusCode, json: (await response.body.json()) as Record<string, unknown> };
}

const trackedNow = (text: string) =>
  parsePrometheusText(text)
    .filter((sample) => sample.name === 'push_notification_tracked_messages')
    .reduce((total, sample) => total + sample.value, 0);

describe('the demo, twice in a row', () => {
  let folder: string;
  beforeAll(() => {
    requireBuild();
    folder = mkdtempSync(join(tmpdir(), 'pne-demo-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('prints a ready intake example that works as printed, logs stopping and stopped, and starts fresh the second time', async () => {
    const dataDirectory = join(folder, 'demo');
    const first = ExporterProcess.start(['--demo', '--web.listen-address', '127.0.0.1:0', '--data-dir', dataDirectory]);
    let url: string;
    try {
      url = await first.waitForStart();
      await first.waitForLine((line) => line.includes('Press Ctrl-C'), 15_000, 'stdout');
      expect(first.stdout).toContain('namespace:    demo-namespace.servicebus.windows.net, hubs orders, marketing, alerts');

      // The README's intake example, as the banner prints it for this demo.
      const lines = first.stdout.split('\n').map((line) => line.trim());
      const intakeLine = lines.find((line) => line.startsWith('curl -sS -X POST')) as string;
      expect(intakeLine).toMatch(/"location": "https:\/\/demo-namespace\.servicebus\.windows\.net\/orders\/messages\/[^?"]+\?api-version=2020-06"/);
      expect(await runCurl(intakeLine)).toEqual({ status: 202, json: { accepted: 1, duplicates: 0 } });
      const lookupLine = lines.find((line) => line.startsWith('curl -sS -H')) as string;
      let record = await runCurl(lookupLine);
      expect(record.status).toBe(200);
      // A real process in real time: the first poll comes 10 s after intake.
      for (let attempt = 0; attempt < 60 && record.json.state !== 'Completed'; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        record = await runCurl(lookupLine);
      }
      expect(record.json).toMatchObject({ target: 'demo-orders', state: 'Completed', finishReason: 'terminal' });

      // Messages still being tracked when it stops: a second run must not resume them.
      expect(trackedNow((await httpGet(`${url}/metrics`)).text)).toBeGreaterThan(0);
    } finally {
      first.kill('SIGTERM');
    }
    expect((await first.exit()).code).toBe(0);
    const messages = first.logLines().map((line) => line.msg);
    expect(messages.slice(-2)).toEqual(['stopping: finishing in-flight polls and writes', 'stopped']);
    // The banner stays readable: per-notification failure lines are not written at info.
    expect(first.logLines().filter((line) => line.level === 'info' && line.msg === 'notification finished with failures')).toEqual([]);

    const second = ExporterProcess.start(['--demo', '--web.listen-address', '127.0.0.1:0', '--data-dir', dataDirectory, '--log.level', 'debug']);
    try {
      await second.waitForStart();
      expect(second.logLines().find((line) => line.msg === 'resumed tracking')).toMatchObject({ messages: 0 });
      // At debug they are there (the demo's failure mix makes one within seconds of the first polls).
      const failure = await second.waitForLine((line) => line.includes('"notification finished with failures"'), 45_000);
      expect(JSON.parse(failure)).toMatchObject({ level: 'debug', source: 'azure_notification_hubs' });
    } finally {
      second.kill('SIGTERM');
    }
    expect((await second.exit()).code).toBe(0);
    // Nothing of the first run's simulator was asked for: no 404 expiries, no refused blob fetches.
    expect(second.logLines().filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
  });
});
