// The Grafana dashboards, by file name (grafana/dashboards/ in the repository).
(import 'overview.libsonnet') +
(import 'exporter-health.libsonnet')
