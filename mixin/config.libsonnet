// Settings of the push-notification-exporter mixin. Override any of them when you import it:
//
//   (import 'push-notification-exporter-mixin/mixin.libsonnet') + {
//     _config+:: { selector: 'job="pne"', failureRatioThreshold: 0.05 },
//   }
//
// README "Dashboards and alerts" explains each number; the defaults are what alerts/*.yml and
// grafana/dashboards/*.json in the repository were rendered with (npm run mixin).
{
  _config+:: {
    // Label matchers that pick the exporter's series out of everything your Prometheus scrapes: the
    // rules and the dashboards' job variable use it. '' matches every job (the metric names are the
    // exporter's own, so that is safe when no other job exports them).
    selector: 'job="push-notification-exporter"',

    // PushNotificationFailureRatioHigh: failure ratio over the long window (1h) above the threshold,
    // with at least minAttempts delivery attempts in that hour, held for `for`.
    failureRatioThreshold: 0.10,
    failureRatioMinAttempts: 100,
    failureRatioFor: '15m',
    failureRatioSeverity: 'warning',

    // PushNotificationFailureSpike: the short-window (5m) ratio at least spikeFactor times the ratio
    // of the hour before it and at least spikeMinRise above it, with spikeMinAttempts in those 5 minutes.
    spikeFactor: 2,
    spikeMinRise: 0.05,
    spikeMinAttempts: 100,
    spikeFor: '5m',
    spikeSeverity: 'critical',

    // PushNotificationsAbandoned and PushNotificationInvalidCredentials: any in this window.
    abandonedWindow: '15m',
    abandonedSeverity: 'warning',
    invalidCredentialsWindow: '15m',
    invalidCredentialsSeverity: 'critical',

    // PushNotificationSourceDown: no valid upstream answer for this long.
    sourceDownFor: '10m',
    sourceDownSeverity: 'warning',

    // PushNotificationTelemetryStale: messages tracked, source not down, last valid answer older than
    // staleAfterSeconds, held for staleFor.
    staleAfterSeconds: 900,
    staleFor: '5m',
    staleSeverity: 'warning',

    // The exporter's address as a browser reaches it (the compose stack and the quick start publish
    // it on localhost:10130). The runbooks are the README's "Runbooks" section; the exporter serves
    // its README at /readme, so a runbook always matches the version that raised the alert.
    exporterURL: 'http://localhost:10130',
    // Where each alert's runbook_url points: %s is the alert name in lower case, the anchor of its
    // section (### PushNotificationFailureRatioHigh -> #pushnotificationfailureratiohigh). Point it at
    // your own copy of the README if you keep one (a Git server renders the same anchors).
    runbookURLPattern: self.exporterURL + '/readme#%s',

    // Extra labels of the PrometheusRule (deploy/kubernetes/), for your Prometheus's ruleSelector.
    prometheusRuleLabels: {},

    // Dashboards.
    dashboardTags: ['push-notifications', 'push-notification-exporter'],
    dashboardRefresh: '1m',
    dashboardTimeFrom: 'now-6h',
    dashboardTimezone: 'browser',
  },
}
