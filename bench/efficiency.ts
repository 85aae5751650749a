/**
 * Phase 2, API efficiency and freshness: the realistic lifecycle mix, with the exporter and the
 * simulator sharing one manual clock, so minutes of traffic run in seconds. Upstream requests per
 * message are counted by the simulator; freshness is the time from a message reaching its terminal
 * state in the simulator to the exporter committing it (and so the counters showing it). The naive
 * schedule (poll every 10 s after intake until terminal) is computed on the same plans.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { parseConfig } from '../src/config/load.js';
import { startExporter } from '../src/exporter.js';
import { silentLogger } from '../src/logging/logger.js';
import { metricNames } from '../src/metrics/names.js';
import { snapshotAt, type MessagePlan } from '../src/simulator/notification-hubs/message-plan.js';
import { NotificationHubsSimulator } from '../src/simulator/notification-hubs/server.js';
import { realisticPlan } from '../src/simulator/notification-hubs/traffic.js';
import { seededRandom } from '../src/simulator/random.js';
import { isTerminal } from '../src/sources/azure-notification-hubs/notification-state.js';
import { normaliseState } from '../src/sources/azure-notification-hubs/notification-state.js';
import { ManualClock } from '../src/time/clock.js';
import { phaseMain } from './lib/child.js';
import { benchHubKey, benchKeyName, benchNamespace, benchServerSettings, connectionString, intakeToken } from './lib/plans.js';
import { mean, percentile } from './lib/stats.js';

export interface EfficiencyArgument {
  /** `realistic`: the simulator's realistic lifecycle mix. `slow`: the same mix sent as large sends. */
  mix: 'realistic' | 'slow';
  messages: number;
  messagesPerSecond: number;
  /** Clock step in milliseconds: polls fall due on step boundaries, so freshness is rounded up to it. */
  stepMilliseconds: number;
}

export interface ScheduleFigures {
  requestsPerMessage: number;
  freshnessSeconds: { p50: number; p95: number; p99: number; max: number; mean: number };
}

export interface EfficiencyResult {
  mix: 'realistic' | 'slow';
  messages: number;
  messagesPerSecond: number;
  finished: number;
  stateMix: Record<string, number>;
  exporter: ScheduleFigures;
  naive: ScheduleFigures;
  countsExact: boolean;
  simulatedSeconds: number;
  wallSeconds: number;
}

const hub = 'efficiency';
const naiveIntervalMilliseconds = 10_000;

/**
 * Large sends: telemetry appears after 30 s to 5 min (the API documents 404 "for up to 30 minutes")
 * and processing takes 1 to 10 minutes; states and counts as in the realistic mix.
 */
function slowPlan(random: () => number): MessagePlan {
  const plan = realisticPlan(random);
  return {
    ...plan,
    notReadyMilliseconds: 30_000 + Math.round(random() * 270_000),
    processingMilliseconds: plan.finalState === 'Canceled' ? plan.processingMilliseconds : 60_000 + Math.round(random() * 540_000),
  };
}

/** When the simulator first shows a terminal state for this plan (undefined: never). */
export function terminalAt(plan: MessagePlan, createdAt: number): number | undefined {
  const readyAt = createdAt + plan.notReadyMilliseconds;
  const enqueueAt = readyAt + (plan.scheduledMilliseconds ?? 0);
  const startAt = enqueueAt + plan.enqueuedMilliseconds;
  const endAt = startAt + plan.processingMilliseconds;
  return [readyAt, enqueueAt, startAt, endAt].find((time) => {
    const state = snapshotAt(plan, createdAt, time).state;
    return state !== 'NotReady' && isTerminal(normaliseState(state));
  });
}

function summarise(requests: number, messages: number, freshnessMilliseconds: number[]): ScheduleFigures {
  const seconds = freshnessMilliseconds.map((value) => value / 1000);
  return {
    requestsPerMessage: requests / messages,
    freshnessSeconds: {
      p50: percentile(seconds, 0.5),
      p95: percentile(seconds, 0.95),
      p99: percentile(seconds, 0.99),
      max: percentile(seconds, 1),
      mean: mean(seconds),
    },
  };
}

phaseMain(async (argument: EfficiencyArgument): Promise<EfficiencyResult> => {
  const wallStarted = performance.now();
  const folder = mkdtempSync(join(tmpdir(), 'pne-bench-efficiency-'));
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const simulator = new NotificationHubsSimulator({
    namespace: benchNamespace,
    hubs: [{ name: hub, keys: { [benchKeyName]: benchHubKey } }],
    clock,
    random: seededRandom(5),
  });
  const url = await simulator.start();
  const exporter = await startExporter({
    config: parseConfig(
      JSON.stringify({
        server: benchServerSettings(),
        storage: { path: join(folder, 'state.db') },
        azureNotificationHubs: [{ name: 'bench', connectionString: connectionString(`${benchNamespace}.servicebus.windows.net`), hub, endpoint: url }],
      }),
    ),
    logger: silentLogger(),
    clock,
    random: seededRandom(11),
    processMetrics: false,
    startEverlive: false,
  });
  const random = seededRandom(42);
  const sent: { id: string; createdAt: number; plan: MessagePlan }[] = [];
  const startedAt = clock.now();
  try {
    await exporter.whenIdle();
    simulator.requests.length = 0; // the start-up probe is not a message's request
    const step = argument.stepMilliseconds;
    const perStep = (argument.messagesPerSecond * step) / 1000;
    let owed = 0;
    // Send for as long as the traffic lasts, then let every message finish (bounded: maxAge is 2 h).
    for (let elapsed = 0; elapsed < 3 * 3_600_000; elapsed += step) {
      if (sent.length < argument.messages) {
        owed += perStep;
        const batch: { target: string; notificationId: string }[] = [];
        while (owed >= 1 && sent.length < argument.messages) {
          owed -= 1;
          const plan = argument.mix === 'slow' ? slowPlan(random) : realisticPlan(random);
          const id = simulator.createMessage(hub, plan, `efficiency-${sent.length}`);
          sent.push({ id, createdAt: clock.now(), plan });
          batch.push({ target: 'bench', notificationId: id });
        }
        if (batch.length > 0) await post(exporter.url, batch);
      } else if ([...exporter.pollers.values()].every((poller) => [...poller.trackedCounts().values()].every((count) => count === 0))) {
        break;
      }
      clock.advance(step);
      await exporter.whenIdle();
    }

    const requestsById = new Map<string, number>();
    for (const entry of simulator.requests) {
      if (entry.notificationId) requestsById.set(entry.notificationId, (requestsById.get(entry.notificationId) ?? 0) + 1);
    }
    const exporterFreshness: number[] = [];
    const naiveFreshness: number[] = [];
    let naiveRequests = 0;
    let finished = 0;
    const stateMix: Record<string, number> = {};
    for (const message of sent) {
      const record = await exporter.store.getNotification('bench', message.id);
      const doneAt = terminalAt(message.plan, message.createdAt);
      stateMix[message.plan.finalState] = (stateMix[message.plan.finalState] ?? 0) + 1;
      if (record?.finishReason === 'terminal' && record.finishedAt && doneAt !== undefined) {
        finished += 1;
        exporterFreshness.push(Date.parse(record.finishedAt) - doneAt);
      }
      if (doneAt !== undefined) {
        // Every 10 s after intake until terminal; polls land on the same clock steps as the exporter's.
        const onStep = (time: number) => startedAt + Math.ceil((time - startedAt) / step) * step;
        let polls = 1;
        while (onStep(message.createdAt + polls * naiveIntervalMilliseconds) < doneAt) polls += 1;
        naiveRequests += polls;
        naiveFreshness.push(onStep(message.createdAt + polls * naiveIntervalMilliseconds) - doneAt);
      }
    }
    const exporterRequests = [...requestsById.values()].reduce((total, count) => total + count, 0);
    const truth = simulator.truth(hub);
    const counted = [...exporter.store.counters.series(metricNames.outcomes)].reduce((total, series) => total + series.value, 0);
    const expected = [...truth.outcomes.values()].reduce((total, count) => total + count, 0);
    return {
      mix: argument.mix,
      messages: sent.length,
      messagesPerSecond: argument.messagesPerSecond,
      finished,
      stateMix,
      exporter: summarise(exporterRequests, sent.length, exporterFreshness),
      naive: summarise(naiveRequests, sent.length, naiveFreshness),
      countsExact: counted === expected,
      simulatedSeconds: (clock.now() - startedAt) / 1000,
      wallSeconds: (performance.now() - wallStarted) / 1000,
    };
  } finally {
    await exporter.stop();
    await simulator.stop();
    rmSync(folder, { recursive: true, force: true });
  }
});

async function post(base: string, items: unknown[]): Promise<void> {
  const response = await request(`${base}/api/v1/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${intakeToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(items),
  });
  const text = await response.body.text();
  if (response.statusCode !== 202) throw new Error(`intake answered ${response.statusCode}: ${text}`);
}
