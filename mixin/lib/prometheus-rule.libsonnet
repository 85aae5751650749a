// The recording and alerting rules as one prometheus-operator PrometheusRule
// (https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PrometheusRule).
// A Prometheus picks it up when its ruleSelector matches these labels: kube-prometheus selects every
// rule in its namespaces; kube-prometheus-stack wants release: <your release name> (prometheusRuleLabels).
function(mixin) {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: {
    name: 'push-notification-exporter',
    labels: { 'app.kubernetes.io/name': 'push-notification-exporter' } + mixin._config.prometheusRuleLabels,
  },
  spec: {
    groups: mixin.prometheusRules.groups + mixin.prometheusAlerts.groups,
  },
}
