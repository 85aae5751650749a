// Exporter health: how push-notification-exporter itself is doing.
local promql = import '../lib/promql.libsonnet';
local panels = import 'panels.libsonnet';

{
  local config = $._config,
  local query = panels.query,
  local grid = panels.grid,

  local select(extra=[]) = promql.matchers(['job=~"$job"', 'instance=~"$instance"', 'target=~"$target"'] + extra),
  local azure(metric) = metric + select(['source="azure_notification_hubs"']),
  // prom-client's process_* and nodejs_* series, kept to the exporter's own processes.
  local processSelector = promql.matchers(['job=~"$job"', 'instance=~"$instance"']),
  local process(expr) = '%s and on (job, instance) push_notification_exporter_build_info%s' % [expr, processSelector],
  local upstream(extra=[]) = 'push_notification_upstream_requests_total' + select(extra),

  grafanaDashboards+:: {
    'push-notification-exporter-health.json': panels.dashboard(
      config,
      'push-notification-exporter-health',
      'Push notifications / Exporter health',
      'How push-notification-exporter itself is doing: upstream requests, tracking, intake and the process.',
      [
        panels.datasourceVariable,
        panels.variable('job', 'Job', 'push_notification_exporter_build_info' + promql.matchers([config.selector]), 'job'),
        panels.variable('instance', 'Instance', 'push_notification_exporter_build_info{job=~"$job"}', 'instance', allValue='.*'),
        // Not narrowed by $instance: with several replicas one of them exports a target's source_up.
        panels.variable('target', 'Target', 'push_notification_source_up{job=~"$job"}', 'target', allValue='.*'),
      ],
      [
        panels.row(1, 'Upstream requests', 0),
        panels.timeseries(
          2,
          'Upstream requests by code',
          'Requests to the upstream APIs per second, by target, operation and HTTP status (or timeout, network_error).',
          'reqps',
          grid(0, 1, 12, 8),
          [query('sum by (target, operation, code) (rate(%s[$__rate_interval]))' % upstream(), '{{target}} {{operation}} {{code}}')],
          stacked=true,
        ),
        panels.timeseries(
          3,
          'Valid answer ratio',
          'Share of upstream requests answered 200 or 404 (telemetry not ready yet, a valid answer). Anything else (401, 403, 429, 5xx, timeouts) marks the source down.',
          'percentunit',
          grid(12, 1, 12, 8),
          [query(
            '(sum by (source, target) (rate(%(valid)s[$__rate_interval])) or 0 * sum by (source, target) (rate(%(all)s[$__rate_interval]))) / (sum by (source, target) (rate(%(all)s[$__rate_interval])) > 0)'
            % { valid: upstream(['code=~"200|404"']), all: upstream() },
            '{{target}} ({{source}})',
          )],
          min=0,
          max=1,
        ),
        panels.timeseries(
          4,
          'Upstream request duration',
          'Percentiles of the duration of upstream requests (including reading the body), by operation.',
          's',
          grid(0, 9, 12, 8),
          [
            query('histogram_quantile(%s, sum by (operation, le) (rate(push_notification_upstream_request_duration_seconds_bucket%s[$__rate_interval])))' % [quantile[0], select()], '%s {{operation}}' % quantile[1], quantile[2])
            for quantile in [['0.5', 'p50', 'A'], ['0.95', 'p95', 'B'], ['0.99', 'p99', 'C']]
          ],
        ),
        panels.timeseries(
          5,
          'Source up',
          'Whether the last request to each upstream got a valid answer.',
          'bool_on_off',
          grid(12, 9, 12, 8),
          [query('max by (source, target) (push_notification_source_up%s)' % select(), '{{target}} ({{source}})')],
          min=0,
          max=1,
        ),
        panels.timeseries(
          6,
          'Time since last valid answer',
          'Seconds since each upstream last answered validly. PushNotificationTelemetryStale fires above %d minutes while messages are tracked.' % (config.staleAfterSeconds / 60),
          's',
          grid(0, 17, 12, 8),
          [query('time() - max by (source, target) (push_notification_source_last_success_timestamp_seconds%s)' % select(), '{{target}} ({{source}})')],
          steps=[{ color: 'transparent', value: null }, { color: 'red', value: config.staleAfterSeconds }],
          thresholdsStyle='dashed',
        ),
        panels.row(7, 'Tracking and intake', 25),
        panels.timeseries(
          8,
          'Messages being tracked by state',
          'Azure Notification Hubs messages being polled now, by target and last known state (Pending = telemetry not available yet). Steady growth of Pending means IDs arrive faster than the hub answers.',
          'short',
          grid(0, 26, 12, 8),
          [query('sum by (target, state) (push_notification_tracked_messages%s)' % select(), '{{target}} {{state}}')],
          stacked=true,
        ),
        panels.timeseries(
          9,
          'Tracking given up by reason',
          'Azure Notification Hubs messages given up per second: not_found (telemetry never appeared: wrong hub or IDs), max_age (never finished).',
          'cps',
          grid(12, 26, 12, 8),
          [query('sum by (target, reason) (rate(push_notification_tracking_expired_total%s[$__rate_interval]))' % select(), '{{target}} {{reason}}')],
        ),
        panels.timeseries(
          10,
          'Intake items by result',
          'Notification IDs received by the intake API per second, by target and result: accepted, duplicate, rejected. An empty target is an item that named no configured target (shown when all targets are selected).',
          'cps',
          grid(0, 34, 12, 8),
          [query('sum by (target, result) (rate(push_notification_intake_notifications_total%s[$__rate_interval]))' % select(), '{{target}} {{result}}')],
          stacked=true,
        ),
        panels.timeseries(
          11,
          'Invalid upstream items by reason',
          'Upstream items skipped per second because they are not the documented shape, by reason: Everlive notifications (each counted once; their feedback is not counted) and unreadable parts of Azure PNS error-details blobs (invalid_pns_record; those device errors are not in PNS errors).',
          'cps',
          grid(12, 34, 12, 8),
          [query('sum by (target, reason) (rate(push_notification_invalid_items_total%s[$__rate_interval]))' % select(), '{{target}} {{reason}}')],
        ),
        panels.stat(
          12,
          'Intake items accepted',
          'Notification IDs accepted for tracking over the selected time range, for the selected targets.',
          'short',
          grid(0, 42, 8, 8),
          [query('sum(increase(push_notification_intake_notifications_total%s[$__range]))' % select(['result="accepted"']), 'accepted', instant=true)],
        ),
        panels.timeseries(
          18,
          'Intake conservation per target',
          'Accepted intake items minus where they are now, per Azure target: finished (messages_total), given up (tracking_expired_total) or still tracked (tracked_messages). It must stay 0: anything else means acknowledged IDs were lost or counted twice (README "Metrics", the invariant). Summed over the selected instances.',
          'short',
          grid(8, 42, 16, 8),
          [query(
            'sum by (target) (push_notification_intake_notifications_total%s) - (sum by (target) (%s) + sum by (target) (%s) + sum by (target) (%s))'
            % [
              select(['result="accepted"']),
              azure('push_notification_messages_total'),
              azure('push_notification_tracking_expired_total'),
              azure('push_notification_tracked_messages'),
            ],
            '{{target}}',
          )],
          fill=0,
          steps=[{ color: 'red', value: null }, { color: 'green', value: 0 }, { color: 'red', value: 1 }],
          thresholdsStyle='line',
          softMin=false,
          calcs=['min', 'max', 'lastNotNull'],
          decimals=0,
        ),
        panels.row(13, 'Process', 50),
        panels.timeseries(
          14,
          'Resident memory',
          'Resident set size of each exporter process.',
          'bytes',
          grid(0, 51, 8, 8),
          [query(process('process_resident_memory_bytes' + processSelector), '{{instance}}')],
        ),
        panels.timeseries(
          15,
          'CPU usage',
          'CPU time per second of each exporter process (100% = one core).',
          'percentunit',
          grid(8, 51, 8, 8),
          [query(process('rate(process_cpu_seconds_total%s[$__rate_interval])' % processSelector), '{{instance}}')],
        ),
        panels.timeseries(
          16,
          'Event loop lag (p99)',
          'Node.js event loop delay, 99th percentile: high values delay scrapes, intake and polling alike.',
          's',
          grid(16, 51, 8, 8),
          [query(process('nodejs_eventloop_lag_p99_seconds' + processSelector), '{{instance}}')],
        ),
        panels.stat(
          17,
          'Exporter versions',
          'Exporter processes by version and Node.js version.',
          'short',
          grid(0, 59, 24, 4),
          [query('count by (version, nodejs_version) (push_notification_exporter_build_info%s)' % processSelector, '{{version}} (Node.js {{nodejs_version}})', instant=true)],
        ),
      ],
    ),
  },
}
