import { schedule, type ScheduledTask } from 'node-cron';
import type { EverliveTarget } from '../../config/load.js';
import type { Logger } from '../../logging/logger.js';
import type { ExporterMetrics } from '../../metrics/exporter-metrics.js';
import type { StatusLabeler } from '../../metrics/labels.js';
import { sourceLabels } from '../../metrics/names.js';
import { WorkLostError, type Storage } from '../../tracking/storage.js';
import type { Clock } from '../../time/clock.js';
import { SourceHealth } from '../shared/source-health.js';
import { UpstreamBodyError, UpstreamError } from '../shared/upstream-errors.js';
import type { EverliveClient, JsonAnswer, ListQuery } from './client.js';
import { clampedCursor, pageClock, RunClockFindings, type PageClock } from './clock-skew.js';
import { EverlivePageError, parseNotificationsPage, type ParsedItem } from './feedback.js';
import { computePageOutcome, type FailureGrowth } from './page-outcome.js';

export type EverliveApi = Pick<EverliveClient, 'listNotifications' | 'getLogs'>;

export interface EverlivePollerOptions {
  target: EverliveTarget;
  client: EverliveApi;
  store: Storage;
  metrics: ExporterMetrics;
  statusLabeler: StatusLabeler;
  clock: Clock;
  logger: Logger;
  /** A safety stop for a server that ignores paging; the next run continues from the cursor. */
  maximumPagesPerRun?: number;
  /** False while the storage cannot take pages (its database is unreachable): runs are skipped. */
  storageAvailable?: () => boolean;
}

export interface RunSummary {
  pages: number;
  notifications: number;
  invalid: number;
  /** Set when the run stopped early on an upstream error; the cursor stays at the last complete page. */
  error?: string;
  /** paused: the upstream asked to wait; other_replica: another replica reads this app now; storage_unavailable. */
  skipped?: 'paused' | 'other_replica' | 'storage_unavailable';
}

const operations = { list: 'list_notifications', logs: 'get_logs' } as const;
// Sorted by ModifiedAt, then Id so that equal timestamps keep a stable order across pages.
const sortOrder = { ModifiedAt: 1, Id: 1 };

/** The warning for notifications dated in the future: once per run, with the furthest ahead. */
export const futureDatedMessage = 'Everlive notification dated in the future; counted, cursor held at the present';

/**
 * Reads Everlive push feedback on a node-cron schedule: each run asks only for notifications
 * modified since the persisted cursor (minus an overlap, so equal timestamps and clock skew lose
 * nothing), ascending, a page at a time, until a short page. Each page is one transaction: last-seen
 * feedback, counter totals and the cursor, which never moves past the present (clock-skew.ts).
 * Runs never overlap.
 */
export class EverlivePoller {
  private readonly health: SourceHealth;
  private task: ScheduledTask | undefined;
  private current: Promise<RunSummary> | undefined;
  private stopped = false;

  constructor(private readonly options: EverlivePollerOptions) {
    this.health = new SourceHealth({
      source: sourceLabels.everlive,
      target: options.target.name,
      metrics: options.metrics,
      clock: options.clock,
      logger: options.logger,
      unauthorizedText: 'Everlive rejected the master key (HTTP 401): check masterKey and appId',
      forbiddenText: 'Everlive refused access (HTTP 403): check that the master key belongs to this app',
    });
  }

  get name(): string {
    return this.options.target.name;
  }

  /** Schedules runs and starts the first one now. */
  start(): void {
    const { logger } = this.options;
    const fields = { target: this.name };
    this.task = schedule(this.options.target.schedule, () => this.runOnce(), {
      name: `everlive-${this.name}`,
      noOverlap: true,
      // node-cron's own notices (a tick skipped because the last run is still going) as structured lines.
      logger: {
        info: (message) => logger.debug({ ...fields, scheduler: message }, 'scheduler notice'),
        debug: (message) => logger.debug({ ...fields, scheduler: String(message) }, 'scheduler notice'),
        warn: (message) => logger.info({ ...fields, scheduler: message }, 'scheduler warning (a run still going blocks the next tick)'),
        error: (message) => logger.error({ ...fields, scheduler: String(message) }, 'scheduler error'),
      },
    });
    void this.runOnce();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.task?.destroy();
    await this.current;
  }

  /** One run; a run already in progress is joined rather than started again. */
  runOnce(): Promise<RunSummary> {
    this.current ??= this.run()
      .catch((error: unknown): RunSummary => {
        if (error instanceof WorkLostError) {
          this.options.logger.info({ target: this.name }, 'Everlive app taken over by another replica; this run stopped');
          return { pages: 0, notifications: 0, invalid: 0, skipped: 'other_replica' };
        }
        this.options.logger.error({ target: this.name, error: String(error) }, 'Everlive run failed');
        return { pages: 0, notifications: 0, invalid: 0, error: String(error) };
      })
      .finally(() => {
        this.current = undefined;
      });
    return this.current;
  }

  private async run(): Promise<RunSummary> {
    const { target, clock } = this.options;
    if (clock.monotonic() < this.health.pausedUntil) return { pages: 0, notifications: 0, invalid: 0, skipped: 'paused' };
    if (this.options.storageAvailable?.() === false) return { pages: 0, notifications: 0, invalid: 0, skipped: 'storage_unavailable' };
    // One replica reads an app at a time; the others skip their runs while it is alive.
    if (!(await this.options.store.everlive.claimApp(target.name))) return { pages: 0, notifications: 0, invalid: 0, skipped: 'other_replica' };
    const cursor = await this.startingCursor();
    const findings = new RunClockFindings();
    try {
      return await this.readPages(new Date(cursor - target.overlapMilliseconds).toISOString(), findings);
    } finally {
      this.logClockFindings(findings);
    }
  }

  private async startingCursor(): Promise<number> {
    const { target, store, clock, logger } = this.options;
    const now = clock.now();
    const { cursor, movedBackMilliseconds } = await store.everlive.cursorForRun(target.name, now - target.initialLookbackMilliseconds, now);
    if (movedBackMilliseconds !== undefined) {
      logger.warn({ target: target.name, aheadSeconds: Math.round(movedBackMilliseconds / 1000) }, 'stored Everlive cursor was in the future; moved back');
    }
    return cursor;
  }

  private async readPages(lowerBound: string, findings: RunClockFindings): Promise<RunSummary> {
    const summary: RunSummary = { pages: 0, notifications: 0, invalid: 0 };
    const { target, clock } = this.options;
    // The first page asks for everything modified since the lower bound; each next page continues
    // strictly after the last notification read, by (ModifiedAt, Id). Unlike a growing Skip, this
    // cannot miss a notification when others are modified (and so move to the end) mid-run.
    let after: PagePosition | undefined;
    let skip = 0;
    const maximumPages = this.options.maximumPagesPerRun ?? 1_000;

    while (!this.stopped && summary.pages < maximumPages) {
      const query: ListQuery = { filter: pageFilter(lowerBound, after), sort: sortOrder, skip, take: target.pageSize };
      const requestedAt = clock.now();
      const answer = await this.health.request(operations.list, () => this.options.client.listNotifications(query));
      if (answer instanceof UpstreamError) {
        this.health.recordFailure(answer);
        return { ...summary, error: answer.message };
      }
      const rawItems = Array.isArray((answer.body as { Result?: unknown })?.Result) ? (answer.body as { Result: unknown[] }).Result : [];
      let items: ParsedItem[];
      try {
        items = parseNotificationsPage(answer.body).items;
      } catch (error) {
        if (!(error instanceof EverlivePageError)) throw error;
        this.health.recordFailure(new UpstreamBodyError(`unusable notifications page: ${error.message}`, String(answer.status)));
        return { ...summary, error: error.message };
      }
      this.health.recordValidAnswer();
      const timing = pageClock({ requestedAt, receivedAt: clock.now(), serverDate: answer.serverDate });
      findings.addPage(items, timing);
      await this.commitPage(items, rawItems, timing);
      summary.pages += 1;
      summary.notifications += items.length;
      summary.invalid += items.filter((item) => !item.valid).length;
      if (items.length < target.pageSize) break;
      // Paging follows the items as served, future-dated or not: only the cursor is clamped.
      const last = pagePosition(rawItems.at(-1));
      if (last) {
        after = last;
        skip = 0;
      } else {
        // A last item without Id or ModifiedAt cannot anchor the next page: fall back to Skip.
        skip += items.length;
      }
    }
    return summary;
  }

  /** One line per kind per run; never the notifications' content. */
  private logClockFindings(findings: RunClockFindings): void {
    const { logger } = this.options;
    const serverAhead = findings.serverAheadMilliseconds;
    if (serverAhead !== undefined) {
      logger.warn({ target: this.name, serverAheadSeconds: Math.round(serverAhead / 1000) }, 'Everlive server clock disagrees with the exporter clock');
    }
    const future = findings.futureDated;
    if (!future) return;
    logger.warn(
      {
        target: this.name,
        aheadSeconds: Math.round(future.aheadMilliseconds / 1000),
        futureDated: future.items,
        notificationId: future.notificationId,
        modifiedAt: new Date(future.modifiedAt).toISOString(),
        comparedWith: future.reference,
      },
      futureDatedMessage,
    );
  }

  /** Writes one page in one transaction (the cursor moves to its last ModifiedAt, at most the present), then logs what it found. */
  private async commitPage(items: ParsedItem[], rawItems: unknown[], timing: PageClock): Promise<void> {
    const { target, store, clock, statusLabeler, logger } = this.options;
    const ids = items.flatMap((item) => (item.valid ? [item.notification.id] : []));
    const outcome = computePageOutcome({
      target: target.name,
      items,
      rawItems,
      seen: await store.everlive.seen(target.name, ids),
      now: clock.now(),
      statusLabeler,
    });
    const cursor = clampedCursor(lastModifiedAt(items), timing);
    const newlyCounted = await store.everlive.recordPage({ ...outcome.change, cursor });
    for (const { key, item } of outcome.invalid) {
      if (!newlyCounted.has(key)) continue;
      logger.warn({ target: target.name, notificationId: item.id, reason: item.reason, detail: item.detail }, 'skipped malformed Everlive notification');
    }
    // One at a time: Telerik warned that heavy use of the API gets access disabled.
    for (const failure of outcome.failures) {
      if (this.stopped) break;
      await this.logFailure(failure);
    }
  }

  /** The seed's "read the logs of a failed notification", made automatic: one line per notification. */
  private async logFailure(failure: FailureGrowth): Promise<void> {
    const { target, logger } = this.options;
    const fields: Record<string, unknown> = { target: target.name, notificationId: failure.notificationId, failedGrowth: failure.failedGrowth, platforms: failure.platforms };
    if (target.logsPath) Object.assign(fields, await this.readLogs(target.logsPath, failure.notificationId));
    logger.info(fields, 'notification has failed deliveries');
  }

  private async readLogs(logsPath: string, notificationId: string): Promise<Record<string, unknown>> {
    const answer: JsonAnswer | UpstreamError = await this.health.request(operations.logs, () =>
      this.options.client.getLogs(logsPath, notificationId),
    );
    if (answer instanceof UpstreamError) return { logsError: answer.code };
    const entries = (answer.body as { Result?: unknown })?.Result;
    if (!Array.isArray(entries)) return { logsError: 'unexpected body' };
    const reasonField = this.options.target.reasonField;
    const reasons = reasonField
      ? [...new Set(entries.map((entry) => (entry as Record<string, unknown>)?.[reasonField]).filter((value) => typeof value === 'string' || typeof value === 'number').map((value) => String(value).slice(0, 200)))].slice(0, 10)
      : undefined;
    return { logEntries: entries.length, reasons };
  }
}

interface PagePosition {
  /** ModifiedAt exactly as the server wrote it. */
  modifiedAt: string;
  id: string;
}

function pagePosition(item: unknown): PagePosition | undefined {
  const { ModifiedAt: modifiedAt, Id: id } = (item ?? {}) as { ModifiedAt?: unknown; Id?: unknown };
  return typeof modifiedAt === 'string' && typeof id === 'string' && id !== '' ? { modifiedAt, id } : undefined;
}

/** Everlive filter for a page: the run's lower bound, then strictly after the last item by (ModifiedAt, Id). */
export function pageFilter(lowerBound: string, after: PagePosition | undefined): unknown {
  if (!after) return { ModifiedAt: { $gte: lowerBound } };
  return { $or: [{ ModifiedAt: { $gt: after.modifiedAt } }, { ModifiedAt: after.modifiedAt, Id: { $gt: after.id } }] };
}

function lastModifiedAt(items: readonly ParsedItem[]): number | undefined {
  for (let index = items.length - 1; index >= 0; index -= 1) {
    const item = items[index] as ParsedItem;
    const modifiedAt = item.valid ? item.notification.modifiedAt : item.modifiedAt;
    if (modifiedAt !== undefined) return modifiedAt;
  }
  return undefined;
}
