// The six alerts of the design (names fixed; README "Alerts" explains the numbers). They read the
// recorded ratios of rules/rules.libsonnet, so load both.
//
// Severity: critical = someone should act now (deliveries are broken), warning = look at it during
// working hours (deliveries degraded, or the exporter cannot see them).
local promql = import '../lib/promql.libsonnet';

{
  local config = $._config,
  local select(list) = promql.matchers([config.selector] + list),
  local templateSelector = promql.forTemplate(config.selector),
  local templateMatchers(list) = promql.matchers([templateSelector] + list),
  local runbook(alert) = config.runbookURLPattern % std.asciiLower(alert),

  local ratio1h = 'source_target_platform:push_notification_delivery_failures_per_attempts:ratio_rate1h',
  local ratio5m = 'source_target_platform:push_notification_delivery_failures_per_attempts:ratio_rate5m',

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'push-notification-alerts',
        rules: [
          // Sustained: the hour's failure ratio above the threshold, with enough attempts in that
          // hour that a handful of sends to stale tokens cannot raise it, held for the `for` time.
          {
            alert: 'PushNotificationFailureRatioHigh',
            expr: |||
              %(ratio1h)s > %(threshold)s
              and on (source, target, platform)
              source_target_platform:push_notification_delivery_attempts:rate1h * 3600 >= %(minAttempts)s
            ||| % { ratio1h: ratio1h, threshold: promql.number(config.failureRatioThreshold), minAttempts: config.failureRatioMinAttempts },
            'for': config.failureRatioFor,
            labels: { severity: config.failureRatioSeverity },
            annotations: {
              summary: 'Push notification failure ratio above %s for target {{ $labels.target }}, platform {{ $labels.platform }}' % promql.percent(config.failureRatioThreshold),
              description: std.join(' ', [
                '{{ $value | humanizePercentage }} of the delivery attempts of target {{ $labels.target }}',
                '({{ $labels.source }}) on platform {{ $labels.platform }} failed over the last hour',
                '(threshold %s, at least %d attempts). The Overview dashboard\'s "Failures by cause" panel' % [promql.percent(config.failureRatioThreshold), config.failureRatioMinAttempts],
                'shows which outcomes.',
              ]),
              runbook_url: runbook('PushNotificationFailureRatioHigh'),
            },
          },

          // Sudden: the 5-minute ratio at least spikeFactor times the ratio of the hour before it,
          // and spikeMinRise above it, with enough attempts in those 5 minutes. A hub that always
          // runs at 2% stays quiet; one that jumps from 1% to 15% pages. With no baseline (no
          // traffic in the hour before) there is no spike to measure: FailureRatioHigh covers that.
          {
            alert: 'PushNotificationFailureSpike',
            expr: |||
              (
                %(ratio5m)s
                > %(factor)s * (%(ratio1h)s offset 5m)
              )
              and on (source, target, platform)
              (
                %(ratio5m)s
                - (%(ratio1h)s offset 5m)
                > %(rise)s
              )
              and on (source, target, platform)
              source_target_platform:push_notification_delivery_attempts:rate5m * 300 >= %(minAttempts)s
            ||| % { ratio5m: ratio5m, ratio1h: ratio1h, factor: promql.number(config.spikeFactor), rise: promql.number(config.spikeMinRise), minAttempts: config.spikeMinAttempts },
            'for': config.spikeFor,
            labels: { severity: config.spikeSeverity },
            annotations: {
              summary: 'Push notification failures spiking for target {{ $labels.target }}, platform {{ $labels.platform }}',
              description: std.join(' ', [
                '{{ $value | humanizePercentage }} of the delivery attempts of target {{ $labels.target }}',
                '({{ $labels.source }}) on platform {{ $labels.platform }} failed in the last 5 minutes,',
                'against {{ with printf "%s{source=%%q,target=%%q,platform=%%q} offset 5m" $labels.source $labels.target $labels.platform | query }}{{ . | first | value | humanizePercentage }}{{ else }}an unknown ratio{{ end }}' % ratio1h,
                'in the hour before.',
              ]),
              runbook_url: runbook('PushNotificationFailureSpike'),
            },
          },

          // Any message that reached state Abandoned in the window (Notification Hubs gave up on
          // it). ceil: increase() extrapolates, and any increase is at least one whole message.
          {
            alert: 'PushNotificationsAbandoned',
            expr: 'ceil(sum by (source, target) (increase(push_notification_messages_total%s[%s]))) > 0' % [select(['state="Abandoned"']), config.abandonedWindow],
            labels: { severity: config.abandonedSeverity },
            annotations: {
              summary: 'Push notifications abandoned for target {{ $labels.target }}',
              description: std.join(' ', [
                '{{ $value }} message(s) of target {{ $labels.target }} ({{ $labels.source }}) reached state',
                'Abandoned in the last %s, on all platforms they were sent to (the state is per' % promql.humanWindow(config.abandonedWindow),
                'message; the outcome AbandonedNotificationMessages shows which platforms): Notification Hubs',
                'gave up delivering them.',
              ]),
              runbook_url: runbook('PushNotificationsAbandoned'),
            },
          },

          // Any InvalidCredentials outcome in the window: the push service refused the hub's
          // credentials (an APNs certificate or key, FCM service account or WNS secret expired or was
          // revoked), so every send to that platform fails. Counters only appear when first counted
          // and increase() cannot see a series' first sample, so a series that is new in the window
          // counts with its whole value, but only if that same instance was already being scraped at
          // the window's start (otherwise a restart of Prometheus or of the exporter would look like
          // new credentials errors). Per instance, not per target: with several replicas each exports
          // its own totals, and a replica that restarts comes back with its old ones while another
          // replica's series of the target were there all along.
          {
            alert: 'PushNotificationInvalidCredentials',
            local credentials = 'push_notification_outcomes_total' + select(['outcome="InvalidCredentials"']),
            local window = config.invalidCredentialsWindow,
            expr: |||
              ceil(
                sum by (source, target, platform) (
                  (
                    %(credentials)s
                    unless %(credentials)s offset %(window)s
                  )
                  and on (job, instance) (push_notification_exporter_build_info%(up)s offset %(window)s)
                  or
                  increase(%(credentials)s[%(window)s])
                )
              ) > 0
            ||| % { credentials: credentials, window: window, up: promql.matchers([config.selector]) },
            labels: { severity: config.invalidCredentialsSeverity },
            annotations: {
              summary: 'Push service rejected the credentials of target {{ $labels.target }}, platform {{ $labels.platform }}',
              description: std.join(' ', [
                '{{ $value }} delivery attempt(s) of target {{ $labels.target }} ({{ $labels.source }}) on',
                'platform {{ $labels.platform }} failed with InvalidCredentials in the last %s: the' % promql.humanWindow(window),
                'certificate, key or secret the hub uses for this push service is invalid or expired, and',
                'every send to this platform fails until it is replaced.',
              ]),
              runbook_url: runbook('PushNotificationInvalidCredentials'),
            },
          },

          // The last request to the upstream API did not get a valid answer, for the `for` time:
          // 401, 403, 429, 5xx, timeouts. Deliveries may be fine; the exporter is blind to them.
          // One replica exports source_up per target (the others leave it out): max by (source,
          // target) is the fleet's answer once, without instance, and promql.sharedGauge carries
          // it over the moment the reporting replica changes.
          {
            alert: 'PushNotificationSourceDown',
            expr: 'max by (source, target) (%s) == 0' % promql.sharedGauge('push_notification_source_up' + promql.matchers([config.selector])),
            'for': config.sourceDownFor,
            labels: { severity: config.sourceDownSeverity },
            annotations: {
              summary: 'Telemetry source of target {{ $labels.target }} is not answering',
              description: std.join(' ', [
                'The exporter has had no valid answer from {{ $labels.source }} for target',
                '{{ $labels.target }} (all platforms) for %s; last valid answer' % promql.humanWindow(config.sourceDownFor),
                '{{ with printf `time() - max(push_notification_source_last_success_timestamp_seconds%s)` $labels.source $labels.target | query }}{{ . | first | value | humanizeDuration }} ago{{ else }}never since the exporter started{{ end }}.' % templateMatchers(['source=%q', 'target=%q']),
                'Tracked messages are kept and polled again when it answers.',
              ]),
              runbook_url: runbook('PushNotificationSourceDown'),
            },
          },

          // Messages are being tracked but nothing succeeded for staleAfterSeconds although the
          // source is not marked down: the poll loop is not polling. Healthy polling asks at least
          // every 5 minutes (Scheduled messages, idle probes), so 15 minutes is three missed rounds.
          // A source that is down is left to PushNotificationSourceDown.
          {
            alert: 'PushNotificationTelemetryStale',
            local selector = promql.matchers([config.selector]),
            expr: |||
              time() - max by (source, target) (%(lastSuccess)s) > %(stale)s
              and on (source, target)
              sum by (source, target) (push_notification_tracked_messages%(selector)s) > 0
              unless on (source, target)
              max by (source, target) (%(up)s) == 0
            ||| % {
              selector: selector,
              stale: config.staleAfterSeconds,
              lastSuccess: promql.sharedGauge('push_notification_source_last_success_timestamp_seconds' + selector),
              up: promql.sharedGauge('push_notification_source_up' + selector),
            },
            'for': config.staleFor,
            labels: { severity: config.staleSeverity },
            annotations: {
              summary: 'Push notification telemetry of target {{ $labels.target }} is stale',
              description: std.join(' ', [
                'The exporter tracks',
                '{{ with printf `sum(push_notification_tracked_messages%s)` $labels.source $labels.target | query }}{{ . | first | value }}{{ end }}' % templateMatchers(['source=%q', 'target=%q']),
                'message(s) of target {{ $labels.target }} ({{ $labels.source }}, all platforms) but its',
                'last successful poll was {{ $value | humanizeDuration }} ago: counts and states on the',
                'dashboards are not current.',
              ]),
              runbook_url: runbook('PushNotificationTelemetryStale'),
            },
          },
        ],
      },
    ],
  },
}
