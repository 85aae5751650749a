import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagePlan } from '../../src/simulator/notification-hubs/message-plan.js';
import { NotificationHubsSimulator } from '../../src/simulator/notification-hubs/server.js';
import type { AlertWebhook } from '../support/alert-webhook.js';
import { loadDashboards, panelQueries, repositoryRoot, substituteVariables, type PanelQuery } from '../support/dashboards.js';
import { requireBuild } from '../support/exporter-process.js';
import { fleetTarget as target, postIds, Replica } from '../support/fleet.js';
import { hubKey } from '../support/harness.js';
import { PostgresCluster, postgresUnavailable } from '../support/postgres.js';
import { AlertingStack, type PrometheusServer, type PrometheusSample } from '../support/prometheus-stack.js';
import { locateTool } from '../support/promtool.js';
import { waitFor } from '../support/wait.js';

/**
 * The bundled rules and dashboards with two replicas: two exporters as real processes (dist/main.js)
 * on one real PostgreSQL, each taking half of every wave of IDs, scraped by a real Prometheus (two
 * instances of one job) that sends to a real Alertmanager. Proves that the dashboards' queries give
 * the fleet's figures, equal to the simulator's truth, that the gauges one replica exports per
 * target are not doubled, and that an alert whose condition is fleet-wide fires once, without
 * `instance`. test/rules/fleet.test.yml proves the same of the rules on made-up series, including a
 * handover of source_up; this proves it on what the exporter really exports.
 *
 * As in prometheus-alertmanager.test.ts, the alerting rules are loaded from a copy whose `for:`
 * durations are 0s; expressions, labels and annotations are the committed ones.
 */

const prometheusBinary = locateTool(['prometheus'], 'prometheus');
const alertmanagerBinary = locateTool(['alertmanager', 'prometheus-alertmanager'], 'prometheus-alertmanager');
const lockedTarget = 'locked-target';
const source = 'azure_notification_hubs';
const recordingRulesFile = join(repositoryRoot, 'alerts', 'push-notification-recording-rules.yml');
const alertingRulesFile = join(repositoryRoot, 'alerts', 'push-notification-alerting-rules.yml');
// Grafana's "All" for every variable; the range covers the whole test.
const grafanaVariables = { __rate_interval: '2m', __range: '30m', __interval: '30s', job: '(push-notification-exporter)', target: '.*', platform: '.*', instance: '.*' };

/** Ready a second after it is sent: the replica's first poll (10 s after intake) finds it terminal. */
function quickPlan(finalState: MessagePlan['finalState'], outcomes: MessagePlan['outcomes']): MessagePlan {
  return { notReadyMilliseconds: 1_000, enqueuedMilliseconds: 200, processingMilliseconds: 300, finalState, outcomes };
}

/** One wave, 10 messages; every apns answer fails 6 of 26 (InvalidCredentials among them). */
const wavePlans: MessagePlan[] = [
  ...Array.from({ length: 8 }, () => quickPlan('Completed', { ApnsOutcomeCounts: { Success: 20, WrongToken: 4, InvalidCredentials: 2, Skipped: 1 }, FcmV1OutcomeCounts: { Success: 30 } })),
  quickPlan('Abandoned', { ApnsOutcomeCounts: { Success: 20, WrongToken: 4, InvalidCredentials: 2 } }),
  quickPlan('NoTargetFound', {}),
];
const waves = 2;

/**
 * The panel's own aggregation over the counters themselves: rate(x[…]) and increase(x[…]) become
 * x, so the answer is an exact count since the start that can equal the simulator's truth (rates
 * are extrapolated; the aggregation across instances is what this checks).
 */
function cumulative(expr: string): string {
  return expr.replace(/\b(?:rate|increase)\(([^[\]]+)\[\$__(?:rate_interval|range)\]\)/g, '$1');
}

function panel(title: string): PanelQuery {
  const found = panelQueries(loadDashboards()).find((query) => query.panel === title);
  if (!found) throw new Error(`no panel "${title}"`);
  return found;
}

interface PrometheusAlert {
  labels: Record<string, string>;
  state: string;
  activeAt: string;
}

const byLabels = (samples: readonly PrometheusSample[], labels: string[]) =>
  Object.fromEntries(samples.map((sample) => [labels.map((label) => sample.metric[label] ?? '').join('/'), Number(sample.value[1])]));

describe.skipIf(postgresUnavailable() || !prometheusBinary || !alertmanagerBinary)('rules and dashboards on a real Prometheus scraping two replicas', () => {
  let cluster: PostgresCluster;
  let folder: string;
  let simulator: NotificationHubsSimulator;
  const replicas: Replica[] = [];
  let webhook: AlertWebhook;
  let stack: AlertingStack | undefined;
  let prometheus: PrometheusServer | undefined;
  const sentIds: string[] = [];

  const answer = async (expression: string): Promise<PrometheusSample[]> => {
    const result = await prometheus?.query(substituteVariables(expression, grafanaVariables));
    if (result?.status !== 'success') throw new Error(`${expression}: ${result?.error ?? 'no answer'}`);
    return result.data?.result ?? [];
  };

  /** Half of a wave to each replica, so that both count every kind of outcome. */
  async function sendWave(): Promise<void> {
    const ids = wavePlans.map((plan) => simulator.createMessage('orders', plan));
    sentIds.push(...ids);
    const halves = [ids.filter((_, index) => index % 2 === 0), ids.filter((_, index) => index % 2 === 1)];
    for (const [index, half] of halves.entries()) {
      const response = await postIds(replicas[index]?.url as string, half);
      expect(response?.status).toBe(202);
    }
  }

  async function waitForValue(expression: string, expected: number): Promise<void> {
    await waitFor(async () => ((await prometheus?.scalar(expression)) ?? -1) === expected || undefined, {
      description: `Prometheus to see ${expression} == ${expected}`,
      timeoutMilliseconds: 60_000,
    });
  }

  beforeAll(async () => {
    requireBuild();
    cluster = await PostgresCluster.start();
    folder = mkdtempSync(join(tmpdir(), 'pne-e2e-fleet-'));
    simulator = new NotificationHubsSimulator({
      namespace: 'contoso',
      hubs: [
        { name: 'orders', keys: { DefaultListenSharedAccessSignature: hubKey } },
        { name: 'locked', keys: { DefaultListenSharedAccessSignature: hubKey } },
      ],
    });
    await simulator.start();
    const databaseUrl = cluster.createDatabase('e2e_fleet');
    // A hub whose key is wrong: it answers 401, so its source is down (one replica reports it).
    const locked = {
      name: lockedTarget,
      connectionString: 'Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=DefaultListenSharedAccessSignature;SharedAccessKey=bm90LXRoZS1odWIta2V5',
      hub: 'locked',
      endpoint: simulator.url,
    };
    for (const replicaId of ['replica-a', 'replica-b']) replicas.push(new Replica(replicaId, folder, databaseUrl, simulator, [locked]));
    await Promise.all(replicas.map((replica) => replica.start()));

    stack = await AlertingStack.start({
      prometheusBinary: prometheusBinary as string,
      alertmanagerBinary: alertmanagerBinary as string,
      folder,
      recordingRulesFile,
      alertingRulesFile,
      scrapeTargets: replicas.map((replica) => new URL(replica.url as string).host),
    });
    ({ webhook, prometheus } = stack);
    await waitForValue('count(up{job="push-notification-exporter"} == 1)', 2);

    // The first wave creates the counter series (rate() and increase() cannot see a first value),
    // the second makes them grow.
    for (let wave = 1; wave <= waves; wave += 1) {
      await sendWave();
      await waitForValue(`sum(push_notification_messages_total{target="${target}"})`, wave * wavePlans.length);
    }
    await waitForValue(`sum(push_notification_tracked_messages{target="${target}"})`, 0);
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    await Promise.all(replicas.map((replica) => replica.stop()));
    await simulator?.stop();
    cluster?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('scrapes both replicas, and both polled: each counted outcomes of its own', async () => {
    expect((await answer('count by (instance) (push_notification_outcomes_total{target="orders-target", outcome="InvalidCredentials"} > 0)')).length).toBe(2);
  });

  it('answers the delivery and message panels with the fleet\'s totals, equal to the simulator\'s truth', async () => {
    const truth = simulator.truth('orders');
    const outcomes = new Map([...truth.outcomes].map(([key, value]) => [key.replace('\u0000', '/'), value] as const));
    const attempts = [...outcomes].filter(([key]) => !/\/(Skipped|NoTargets)$/.test(key)).reduce((total, [, value]) => total + value, 0);
    const successes = [...outcomes].filter(([key]) => /\/(Success|Sent)$/.test(key)).reduce((total, [, value]) => total + value, 0);
    expect(attempts).toBe(waves * 9 * 26 + waves * 8 * 30);

    expect(byLabels(await answer(cumulative(panel('Outcomes by platform and outcome').expr)), ['platform', 'outcome'])).toEqual(Object.fromEntries(outcomes));
    expect(byLabels(await answer(cumulative(panel('Delivery attempts').expr)), ['source'])).toEqual({ [source]: attempts });
    expect(byLabels(await answer(cumulative(panel('Failed deliveries').expr)), ['source'])).toEqual({ [source]: attempts - successes });
    expect(byLabels(await answer(cumulative(panel('Delivery success ratio').expr)), ['source'])[source]).toBeCloseTo(successes / attempts, 12);
    expect(byLabels(await answer(cumulative(panel('Messages finished by state').expr)), ['state'])).toEqual({
      Abandoned: waves,
      Canceled: 0,
      Completed: waves * 8,
      NoTargetFound: waves,
    });
    expect(await prometheus?.scalar(substituteVariables(cumulative(panel('Abandoned messages').expr), grafanaVariables))).toBe(waves);
    expect(await prometheus?.scalar(substituteVariables(cumulative(panel('Intake items accepted').expr), grafanaVariables))).toBe(sentIds.length);
    // Nothing lost between the two replicas: accepted on one, finished on either.
    expect(byLabels(await answer(panel('Intake conservation per target').expr), ['target'])).toEqual({ [target]: 0, [lockedTarget]: 0 });
    expect(byLabels(await answer(panel('Messages being tracked by state').expr), ['state'])).toEqual({ Enqueued: 0, Pending: 0, Processing: 0, Scheduled: 0, Unknown: 0 });
  });

  it('answers the rate panels with the fleet\'s ratio: every apns answer failed 6 of 26, across both instances', async () => {
    const ratios = byLabels(await answer(panel('Failure ratio by target and platform').expr), ['target', 'platform']);
    expect(ratios[`${target}/apns`]).toBeCloseTo(6 / 26, 9);
    expect(ratios[`${target}/fcmv1`]).toBe(0);
    // The recorded ratio, once the rules have been evaluated after the last scrape that grew.
    const recorded = await waitFor(
      async () => byLabels(await answer(`source_target_platform:push_notification_delivery_failures_per_attempts:ratio_rate5m{target="${target}"}`), ['platform']).apns || undefined,
      { description: 'the recorded 5m failure ratio of apns', timeoutMilliseconds: 20_000 },
    );
    expect(recorded).toBeCloseTo(6 / 26, 9);
    // Every panel query runs against two instances (the single-instance e2e proves each returns data
    // with every source configured; here there is no Everlive nor Azure Monitor).
    for (const query of panelQueries(loadDashboards())) await answer(query.expr);
  });

  it('shows the gauges of shared state once per target, from one replica, not doubled', async () => {
    // Exported by one instance per target: the other leaves the series out.
    expect(byLabels(await answer('count by (target) (push_notification_source_up{job="push-notification-exporter"})'), ['target'])).toEqual({ [target]: 1, [lockedTarget]: 1 });
    expect(byLabels(await answer('count by (target) (push_notification_source_last_success_timestamp_seconds{job="push-notification-exporter"})'), ['target'])).toEqual({ [target]: 1 });
    expect(byLabels(await answer(panel('Source up').expr), ['target'])).toEqual({ [target]: 1, [lockedTarget]: 0 });
    expect((await answer(panel('Time since last valid answer').expr)).map((sample) => sample.metric.target)).toEqual([target]);
    // The Target variable lists both, whichever instance reports them.
    expect(await prometheus?.labelValues('target', 'push_notification_source_up{job=~"push-notification-exporter"}')).toEqual([lockedTarget, target]);
  });

  it('fires each fleet-wide alert once, without instance, and delivers it to Alertmanager once', async () => {
    const expected: { alertname: string; labels: Record<string, string> }[] = [
      { alertname: 'PushNotificationInvalidCredentials', labels: { severity: 'critical', source, target, platform: 'apns' } },
      { alertname: 'PushNotificationSourceDown', labels: { severity: 'warning', source, target: lockedTarget } },
      { alertname: 'PushNotificationsAbandoned', labels: { severity: 'warning', source, target } },
      { alertname: 'PushNotificationFailureRatioHigh', labels: { severity: 'warning', source, target, platform: 'apns' } },
    ];
    for (const { alertname, labels } of expected) {
      await waitFor(() => webhook.find(alertname, labels), {
        description: `Alertmanager to deliver ${alertname} (received: ${JSON.stringify(webhook.alerts.map((alert) => alert.labels))})`,
        timeoutMilliseconds: 45_000,
      });
    }
    const firing = await answer('ALERTS{alertstate="firing"}');
    for (const { alertname, labels } of expected) {
      const matching = firing.filter((sample) => sample.metric.alertname === alertname && Object.entries(labels).every(([key, value]) => sample.metric[key] === value));
      expect(matching, alertname).toHaveLength(1);
      expect(matching[0]?.metric.instance, alertname).toBeUndefined();
      const delivered = webhook.alerts.filter((alert) => alert.labels.alertname === alertname && alert.labels.target === labels.target);
      expect(delivered.map((alert) => alert.labels.instance), alertname).toEqual(delivered.map(() => undefined));
      expect(new Set(delivered.map((alert) => JSON.stringify(alert.labels))).size, alertname).toBe(1);
    }
    // Healthy, answering, and polled: nothing else fires (fcmv1 never fails; no spike baseline).
    expect(firing.map((sample) => sample.metric.alertname).sort()).toEqual(expected.map((alert) => alert.alertname).sort());
  });

  it('keeps SourceDown firing as one alert while source_up moves to the other replica (the reporting one stops)', async () => {
    const sourceDown = async () => {
      const response = await request(`${prometheus?.url ?? ''}/api/v1/alerts`);
      const alerts = ((await response.body.json()) as { data: { alerts: PrometheusAlert[] } }).data.alerts;
      return alerts.filter((alert) => alert.labels.alertname === 'PushNotificationSourceDown' && alert.labels.target === lockedTarget);
    };
    const [before] = await sourceDown();
    expect(before?.state).toBe('firing');
    const [reported] = await answer(`push_notification_source_up{target="${lockedTarget}"}`);
    const reporter = replicas.find((replica) => new URL(replica.url as string).host === reported?.metric.instance) as Replica;
    const other = replicas.find((replica) => replica !== reporter) as Replica;
    const otherInstance = new URL(other.url as string).host;
    // A clean stop hands the report back at once; the other replica takes it at its next claim (5 s).
    await reporter.stop();
    const samples: PrometheusSample[][] = [];
    await waitFor(
      async () => {
        samples.push(await sourceDown().then((alerts) => alerts.map((alert) => ({ metric: alert.labels, value: [0, alert.activeAt] }))));
        const now = await answer(`push_notification_source_up{target="${lockedTarget}"}`);
        return now.length === 1 && now[0]?.metric.instance === otherInstance ? true : undefined;
      },
      { description: `${otherInstance} to report source_up of ${lockedTarget}`, timeoutMilliseconds: 30_000, intervalMilliseconds: 200 },
    );
    // Several evaluations after the move, the alert is still the one that was firing before it.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const after = await sourceDown();
    expect(after.map((alert) => [alert.state, alert.activeAt])).toEqual([['firing', before?.activeAt]]);
    // Watched every 200 ms through the handover: never absent, never a second one.
    expect(samples.filter((seen) => seen.length !== 1)).toEqual([]);
  });
});
