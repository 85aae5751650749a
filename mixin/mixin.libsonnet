// push-notification-exporter monitoring mixin (https://monitoring.mixins.dev layout):
// prometheusRules, prometheusAlerts and grafanaDashboards, tuned through _config (config.libsonnet).
(import 'config.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
