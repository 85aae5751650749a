/**
 * The Notification Hubs simulator in its own process (so it does not share the measured process's
 * event loop), driven over IPC by the throughput and footprint phases.
 */
import { readFileSync } from 'node:fs';
import type { MessagePlan } from '../src/simulator/notification-hubs/message-plan.js';
import { NotificationHubsSimulator } from '../src/simulator/notification-hubs/server.js';
import { realisticPlan } from '../src/simulator/notification-hubs/traffic.js';
import { seededRandom } from '../src/simulator/random.js';
import { serveRpc } from './lib/child.js';
import { benchHubKey, benchKeyName, benchNamespace, labelSpacePlan, type PlanKind, type Truth } from './lib/plans.js';

let simulator: NotificationHubsSimulator | undefined;

function required(): NotificationHubsSimulator {
  if (!simulator) throw new Error('simulator not started');
  return simulator;
}

function planFor(kind: PlanKind, random: () => number): MessagePlan {
  if (kind === 'label-space') return labelSpacePlan();
  // Telemetry ready and terminal at once, with the realistic mix of states and outcome counts.
  const plan = realisticPlan(random);
  return { ...plan, notReadyMilliseconds: 0, scheduledMilliseconds: undefined, enqueuedMilliseconds: 0, processingMilliseconds: 0 };
}

serveRpc({
  async start(argument: { hubs: string[]; tls?: { keyPath: string; certPath: string } }) {
    simulator = new NotificationHubsSimulator({
      namespace: benchNamespace,
      hubs: argument.hubs.map((name) => ({ name, keys: { [benchKeyName]: benchHubKey } })),
      random: seededRandom(3),
      tls: argument.tls && { key: readFileSync(argument.tls.keyPath), cert: readFileSync(argument.tls.certPath) },
      acceptOwnAddressAudience: true,
    });
    return { url: await simulator.start() };
  },
  create(argument: { hub: string; prefix: string; count: number; seed: number; kind: PlanKind }): Truth {
    const random = seededRandom(argument.seed);
    const truth: Truth = { messages: argument.count, outcomes: 0, finalStates: {} };
    for (let index = 0; index < argument.count; index += 1) {
      const plan = planFor(argument.kind, random);
      required().createMessage(argument.hub, plan, `${argument.prefix}${index}`);
      truth.finalStates[plan.finalState] = (truth.finalStates[plan.finalState] ?? 0) + 1;
      if (plan.finalState === 'Canceled') continue;
      for (const counts of Object.values(plan.outcomes)) for (const count of Object.values(counts)) truth.outcomes += count;
    }
    return truth;
  },
  requestCount() {
    return required().requests.length;
  },
  forgetRequests() {
    required().requests.length = 0;
    return true;
  },
  async close() {
    await simulator?.stop();
    return true;
  },
});
