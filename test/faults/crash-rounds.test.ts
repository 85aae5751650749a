import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EverliveSimulator } from '../../src/simulator/everlive/server.js';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import { seededRandom } from '../../src/simulator/random.js';
import { platformName } from '../../src/sources/everlive/feedback.js';
import { listAllNotifications } from '../support/api.js';
import { ExporterProcess, mainScript } from '../support/exporter-process.js';
import { writeFaultResults } from '../support/fault-results.js';
import { groupBy, parsePrometheusText, sumOf } from '../support/prometheus-text.js';
import { waitFor } from '../support/wait.js';

const token = 'crash-rounds-token-0123456789abcdef';
const target = 'orders-target';
const everliveTarget = 'legacy-app';
const rounds = 20;

/**
 * kill -9 at random moments during intake bursts, Azure polling and Everlive runs, 24 times, then
 * restart on the same state file. After every restart each ID acknowledged before the kill is still
 * tracked or finished; at the end the totals equal the simulators' truth exactly and every ID was
 * accepted exactly once. Then the state file is damaged in the ways disks and operators damage
 * files, and each is refused at start with a clear error, never a silent reset.
 */
describe('crash rounds: kill -9 during intake and polling', () => {
  const random = seededRandom(6006);
  let simulator: NotificationHubsSimulator;
  let everlive: EverliveSimulator;
  let folder: string;
  let configPath: string;
  const agent = new Agent({ connections: 8 });

  beforeAll(async () => {
    simulator = new NotificationHubsSimulator({
      namespace: 'contoso',
      hubs: [{ name: 'orders', keys: { DefaultListenSharedAccessSignature: 'crash-rounds-key' } }],
      random,
    });
    await simulator.start();
    everlive = new EverliveSimulator({ appId: 'crash-app', masterKey: 'crash-rounds-master-key' });
    await everlive.start();
    folder = mkdtempSync(join(tmpdir(), 'pne-crash-rounds-'));
    configPath = join(folder, 'config.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        // The rate limit is tested elsewhere; here one client replays every unacknowledged batch.
        server: { listen: '127.0.0.1:0', apiTokens: [token], intakeRateLimit: { requestsPerSecond: 0 } },
        storage: { path: join(folder, 'state.db') },
        azureNotificationHubs: [
          { name: target, connectionString: simulator.connectionString('orders'), hub: 'orders', endpoint: simulator.url, concurrency: 4 },
        ],
        everlive: [
          {
            name: everliveTarget,
            endpoint: everlive.url,
            appId: 'crash-app',
            masterKey: 'crash-rounds-master-key',
            schedule: '* * * * * *',
            pageSize: 20,
            initialLookback: '1h',
          },
        ],
      }),
    );
  });

  afterAll(async () => {
    await agent.close();
    await simulator?.stop();
    await everlive?.stop();
    rmSync(folder, { recursive: true, force: true });
  });

  function planFor(): MessagePlan {
    const between = (low: number, high: number) => Math.round(low + random() * (high - low));
    const roll = random();
    return {
      notReadyMilliseconds: between(200, 1_500),
      enqueuedMilliseconds: between(100, 500),
      // Long enough that counts grow across polls while the process is being killed.
      processingMilliseconds: between(500, 8_000),
      finalState: roll < 0.05 ? 'Abandoned' : roll < 0.08 ? 'NoTargetFound' : 'Completed',
      outcomes: roll >= 0.05 && roll < 0.08 ? {} : {
        ApnsOutcomeCounts: { Success: between(1, 300), WrongToken: between(0, 6) },
        FcmV1OutcomeCounts: { Success: between(1, 200), InvalidToken: between(0, 4) },
      },
    };
  }

  async function post(url: string, ids: string[]): Promise<number> {
    const response = await request(`${url}/api/v1/notifications`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(ids.map((notificationId) => ({ target, notificationId }))),
    });
    await response.body.dump();
    return response.statusCode;
  }

  async function lookupStatus(url: string, id: string): Promise<number> {
    const response = await request(`${url}/api/v1/notifications/${target}/${encodeURIComponent(id)}`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${token}` },
    });
    await response.body.dump();
    return response.statusCode;
  }

  async function scrape(url: string) {
    const response = await request(`${url}/metrics`, { dispatcher: agent });
    return parsePrometheusText(await response.body.text());
  }

  it(`survives ${rounds} kill -9 rounds with every acknowledged ID kept and exact totals`, async () => {
    const acknowledged = new Set<string>();
    /** Sent but not answered when the process died: the sender sends them again (at-least-once). */
    let unanswered: string[] = [];
    const everliveIds: string[] = [];
    let killsDuringIntake = 0;
    let killsDuringAzurePolls = 0;
    let killsDuringEverliveRuns = 0;
    let verifiedAfterRestart = 0;
    let duplicatesReplayed = 0;
    const startMilliseconds: number[] = [];
    let previousRound: string[] = [];
    const started = performance.now();

    // Everlive feedback grows all along, as devices report back.
    const growth = setInterval(() => {
      if (everliveIds.length < 200 && random() < 0.5) everliveIds.push(everlive.createNotification({ platforms: random() < 0.5 ? ['4'] : ['3', '4'] }));
      const id = everliveIds[Math.floor(random() * everliveIds.length)];
      if (id) everlive.addFeedback(id, random() < 0.5 ? '4' : '3', { Sent: 1 + Math.floor(random() * 5), Failed: random() < 0.3 ? 1 : 0 });
    }, 50);

    try {
      for (let round = 0; round < rounds; round += 1) {
        const launchedAt = performance.now();
        const exporter = ExporterProcess.start(['--config', configPath]);
        const url = await exporter.waitForStart();
        startMilliseconds.push(performance.now() - launchedAt);

        // Everything acknowledged before the last kill is there (tracked or finished).
        const toVerify = previousRound;
        for (let index = 0; index < toVerify.length; index += 25) {
          const statuses = await Promise.all(toVerify.slice(index, index + 25).map((id) => lookupStatus(url, id)));
          expect(statuses.every((status) => status === 200), `round ${round}: an acknowledged ID is missing`).toBe(true);
        }
        verifiedAfterRestart += toVerify.length;
        previousRound = [];

        // The sender replays what it never got an answer for.
        if (unanswered.length > 0) {
          const replay = unanswered;
          unanswered = [];
          for (let index = 0; index < replay.length; index += 100) {
            const batch = replay.slice(index, index + 100);
            expect(await post(url, batch)).toBe(202);
            for (const id of batch) acknowledged.add(id);
            previousRound.push(...batch);
          }
          duplicatesReplayed += replay.length;
        }

        // Intake bursts from two senders until the kill.
        let stopped = false;
        let inFlight = 0;
        const send = async () => {
          while (!stopped) {
            const batch = Array.from({ length: 1 + Math.floor(random() * 8) }, () => simulator.createMessage('orders', planFor()));
            inFlight += 1;
            try {
              const status = await post(url, batch);
              if (status !== 202) throw new Error(`intake answered ${status}`);
              for (const id of batch) acknowledged.add(id);
              previousRound.push(...batch);
            } catch (error) {
              if (!stopped) throw error;
              unanswered.push(...batch);
            } finally {
              inFlight -= 1;
            }
            await sleep(random() * 15);
          }
        };
        const senders = Promise.all([send(), send()]);

        await sleep(100 + random() * 1_500);
        // Polls answered in the last 500 ms before the kill mean the poll loops were busy.
        const azureBefore = simulator.requests.length;
        const everliveBefore = everlive.requests.length;
        await sleep(500);
        if (inFlight > 0) killsDuringIntake += 1;
        exporter.kill('SIGKILL');
        stopped = true;
        expect((await exporter.exit()).signal).toBe('SIGKILL');
        await senders;
        if (simulator.requests.length > azureBefore) killsDuringAzurePolls += 1;
        if (everlive.requests.length > everliveBefore) killsDuringEverliveRuns += 1;
      }
    } finally {
      clearInterval(growth);
    }

    // The last start: replay what is left, then let every message finish.
    const exporter = ExporterProcess.start(['--config', configPath]);
    const url = await exporter.waitForStart();
    for (const id of previousRound) expect(await lookupStatus(url, id)).toBe(200);
    verifiedAfterRestart += previousRound.length;
    if (unanswered.length > 0) {
      expect(await post(url, unanswered)).toBe(202);
      for (const id of unanswered) acknowledged.add(id);
      duplicatesReplayed += unanswered.length;
    }

    const azureTruth = simulator.truth('orders');
    const everliveTruth = new Map<string, number>();
    for (const [key, value] of everlive.truth()) {
      const [platformKey, outcome] = key.split('/') as [string, string];
      everliveTruth.set(`${platformName(platformKey)}/${outcome}`, value);
    }
    const samples = await waitFor(
      async () => {
        const current = await scrape(url);
        const azureDone = sumOf(current, 'push_notification_tracked_messages', { target }) === 0;
        const everliveDone =
          JSON.stringify([...groupBy(current, 'push_notification_outcomes_total', ['platform', 'outcome'], { source: 'everlive', target: everliveTarget })].sort()) ===
          JSON.stringify([...everliveTruth].sort());
        return azureDone && everliveDone ? current : undefined;
      },
      { description: 'every message to finish and Everlive to catch up', timeoutMilliseconds: 120_000, intervalMilliseconds: 500 },
    );

    // Exactly the truth: nothing lost, nothing counted twice.
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { source: 'azure_notification_hubs', target })).toEqual(azureTruth.outcomes);
    expect(groupBy(samples, 'push_notification_messages_total', ['state'], { source: 'azure_notification_hubs', target })).toEqual(
      new Map(['Completed', 'Abandoned', 'NoTargetFound', 'Canceled'].map((state) => [state, azureTruth.finalStates.get(state) ?? 0])),
    );
    expect(sumOf(samples, 'push_notification_tracking_expired_total', { target })).toBe(0);
    expect(groupBy(samples, 'push_notification_outcomes_total', ['platform', 'outcome'], { source: 'everlive', target: everliveTarget })).toEqual(everliveTruth);
    expect(sumOf(samples, 'push_notification_messages_total', { source: 'everlive', target: everliveTarget })).toBe(everliveIds.length);
    // Each ID accepted exactly once, however often the sender replayed it across crashes.
    expect(sumOf(samples, 'push_notification_intake_notifications_total', { result: 'accepted' })).toBe(acknowledged.size);
    const known = await listAllNotifications(url, token, agent);
    expect(known.size).toBe(acknowledged.size);
    expect([...acknowledged].filter((id) => !known.has(id))).toEqual([]);
    expect([...known.values()].filter((state) => !['Completed', 'Abandoned', 'NoTargetFound'].includes(state))).toEqual([]);

    exporter.kill('SIGTERM');
    expect(await exporter.exit()).toEqual({ code: 0, signal: null });

    // The kills really hit the moments that matter.
    expect(killsDuringIntake).toBeGreaterThanOrEqual(5);
    expect(killsDuringAzurePolls).toBeGreaterThanOrEqual(5);
    expect(killsDuringEverliveRuns).toBeGreaterThanOrEqual(5);
    writeFaultResults('crash-rounds', {
      rounds,
      killsDuringIntake,
      killsDuringAzurePolls,
      killsDuringEverliveRuns,
      acknowledgedIds: acknowledged.size,
      idsVerifiedRightAfterARestart: verifiedAfterRestart,
      replayedAfterKill: duplicatesReplayed,
      azureOutcomeCountsTotal: [...azureTruth.outcomes.values()].reduce((total, value) => total + value, 0),
      everliveNotifications: everliveIds.length,
      everliveFeedbackTotal: [...everliveTruth.values()].reduce((total, value) => total + value, 0),
      lost: 0,
      countedTwice: 0,
      restartMillisecondsMax: Math.round(Math.max(...startMilliseconds)),
      seconds: Math.round((performance.now() - started) / 1000),
    });
  }, 300_000);
});

describe('a damaged state file is refused at start, never silently reset', () => {
  let folder: string;
  let healthy: string;
  const connectionString = 'Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=c3RhdGUtZmlsZS10ZXN0';
  const refusals: { damage: string; exitCode: number | null; message: string }[] = [];

  const configFor = (name: string, statePath: string): string => {
    const path = join(folder, `${name}.yaml`);
    writeFileSync(
      path,
      JSON.stringify({
        server: { listen: '127.0.0.1:0', apiTokens: [token] },
        storage: { path: statePath },
        azureNotificationHubs: [{ name: target, connectionString, hub: 'orders', endpoint: 'http://127.0.0.1:9' }],
      }),
    );
    return path;
  };

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'pne-damaged-'));
    // A real state file with data in it: IDs accepted, then a clean stop.
    healthy = join(folder, 'healthy.db');
    const exporter = ExporterProcess.start(['--config', configFor('healthy', healthy)]);
    const url = await exporter.waitForStart();
    for (let batch = 0; batch < 20; batch += 1) {
      const response = await request(`${url}/api/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(Array.from({ length: 200 }, (_, index) => ({ target, notificationId: `id-${batch}-${index}-${'p'.repeat(100)}` }))),
      });
      expect(response.statusCode).toBe(202);
      await response.body.dump();
    }
    exporter.kill('SIGTERM');
    expect((await exporter.exit()).code).toBe(0);
    expect(statSync(healthy).size).toBeGreaterThan(200_000);
  });

  afterAll(() => {
    writeFaultResults('damaged-state-file', refusals);
    rmSync(folder, { recursive: true, force: true });
  });

  async function expectRefused(damage: string, statePath: string, message: RegExp, options: { uid?: number } = {}): Promise<void> {
    const before = existsSync(statePath) && statSync(statePath).isFile() ? readFileSync(statePath) : undefined;
    const config = configFor(damage.replace(/\W+/g, '-'), statePath);
    const child = spawn(process.execPath, [mainScript, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], uid: options.uid, gid: options.uid });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(message);
    expect(stderr).not.toContain('exporter started');
    // Left as it was, for the operator to inspect or restore.
    if (before) expect(readFileSync(statePath).equals(before)).toBe(true);
    const line = stderr.split('\n').find((text) => text.includes('"fatal"')) ?? stderr;
    refusals.push({ damage, exitCode: code, message: String((JSON.parse(line) as { error?: string }).error ?? line) });
  }

  function copyOfHealthy(name: string): string {
    const path = join(folder, `${name}.db`);
    copyFileSync(healthy, path);
    return path;
  }

  it('refuses a truncated file (half of it lost)', async () => {
    const path = copyOfHealthy('truncated');
    truncateSync(path, Math.floor(statSync(path).size / 2));
    await expectRefused('truncated to half its size', path, /state file .*truncated\.db .*(integrity|malformed|not a valid)/);
  });

  it('refuses a file with garbage written over its pages', async () => {
    const path = copyOfHealthy('garbage');
    const bytes = readFileSync(path);
    const random = seededRandom(99);
    for (let offset = 8192; offset < bytes.length - 4096; offset += 16_384) {
      for (let index = 0; index < 512; index += 1) bytes[offset + index] = Math.floor(random() * 256);
    }
    writeFileSync(path, bytes);
    await expectRefused('garbage over its pages', path, /state file .*garbage\.db .*(integrity|malformed|not a valid)/);
  });

  it('refuses a file that is not a database at all', async () => {
    const path = join(folder, 'text.db');
    writeFileSync(path, 'state: not really\n'.repeat(500));
    await expectRefused('a text file', path, /is not a valid SQLite database/);
  });

  it('refuses an empty (0-byte) file instead of starting afresh', async () => {
    const path = join(folder, 'empty.db');
    writeFileSync(path, '');
    await expectRefused('an empty 0-byte file', path, /is empty \(0 bytes\).*restore a backup/);
  });

  it('refuses a missing file whose write-ahead log is still there', async () => {
    // A kill -9 leaves the -wal file; then the main file goes missing (a bad restore, a wrong rm).
    const path = join(folder, 'orphan', 'state.db');
    mkdirSync(join(folder, 'orphan'));
    const exporter = ExporterProcess.start(['--config', configFor('orphan-start', path)]);
    const url = await exporter.waitForStart();
    const response = await request(`${url}/api/v1/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target, notificationId: 'acknowledged-before-the-crash' }),
    });
    expect(response.statusCode).toBe(202);
    await response.body.dump();
    exporter.kill('SIGKILL');
    await exporter.exit();
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    unlinkSync(path);
    await expectRefused('main file missing, -wal left', path, /is missing but its write-ahead log .* is there/);
  });

  it('refuses a path that is a folder', async () => {
    const path = join(folder, 'a-folder.db');
    mkdirSync(path);
    await expectRefused('a folder instead of a file', path, /cannot open state file .*a-folder\.db/);
  });

  it('refuses a file it may not read or write', async () => {
    const path = copyOfHealthy('unreadable');
    chmodSync(path, 0o600);
    if (process.getuid?.() === 0) {
      // Root reads anything: run the exporter as nobody, who can reach the files but not this one.
      chmodSync(folder, 0o755);
      for (const name of ['unreadable.db']) chmodSync(join(folder, name), 0o600);
      const config = configFor('a-file-it-may-not-read', path);
      chmodSync(config, 0o644);
      await expectRefused('a file it may not read', path, /not readable and writable by this user \(EACCES\)/, { uid: 65534 });
    } else {
      chmodSync(path, 0o000);
      await expectRefused('a file it may not read', path, /not readable and writable by this user \(EACCES\)/);
    }
  });
});
