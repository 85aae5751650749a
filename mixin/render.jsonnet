// What `npm run mixin` writes, by path in the repository. Overrides come in as a top-level argument:
//   jsonnet -J mixin --tla-code-file config=my-config.libsonnet mixin/render.jsonnet
// where my-config.libsonnet is an object of _config keys, e.g. { selector: 'job="pne"' }.
function(config={})
  local mixin = (import 'mixin.libsonnet') + { _config+:: config };
  local prometheusRule = import 'lib/prometheus-rule.libsonnet';
  {
    'alerts/push-notification-recording-rules.yml': mixin.prometheusRules,
    'alerts/push-notification-alerting-rules.yml': mixin.prometheusAlerts,
    'deploy/kubernetes/push-notification-exporter-prometheusrule.yaml': prometheusRule(mixin),
  } + {
    ['grafana/dashboards/' + file]: mixin.grafanaDashboards[file]
    for file in std.objectFields(mixin.grafanaDashboards)
  }
