// Recording rules (naming: level:metric:operations, the level being the labels kept).
//
// Delivery attempts = successes + failures (every outcome that is not neutral), by the shared
// classification in lib/promql.libsonnet. Short window 5m (what is happening now: the spike alert),
// long window 1h (sustained ratio and the spike's baseline). Rules in a group run in order, so the
// ratios read the rates recorded above them.
local promql = import '../lib/promql.libsonnet';

{
  local config = $._config,
  local outcomes(classification) = 'push_notification_outcomes_total' + promql.matchers([config.selector, classification]),

  local outcomeRules(window) = [
    {
      record: 'source_target_platform:push_notification_delivery_attempts:rate%s' % window,
      expr: 'sum by (source, target, platform) (rate(%s[%s]))' % [outcomes(promql.attempts), window],
    },
    // "or 0 * attempts": a platform that only ever succeeded has no failure series; record 0, not nothing.
    {
      record: 'source_target_platform:push_notification_delivery_failures:rate%s' % window,
      expr: |||
        sum by (source, target, platform) (rate(%s[%s]))
        or 0 * source_target_platform:push_notification_delivery_attempts:rate%s
      ||| % [outcomes(promql.failures), window, window],
    },
    // "> 0" drops idle platforms instead of recording 0/0 = NaN.
    {
      record: 'source_target_platform:push_notification_delivery_failures_per_attempts:ratio_rate%s' % window,
      expr: |||
        source_target_platform:push_notification_delivery_failures:rate%s
        / (source_target_platform:push_notification_delivery_attempts:rate%s > 0)
      ||| % [window, window],
    },
  ],

  prometheusRules+:: {
    groups+: [
      {
        name: 'push-notification-outcomes',
        rules: [
          {
            record: 'source_target_platform_outcome:push_notification_outcomes:rate5m',
            expr: 'sum by (source, target, platform, outcome) (rate(push_notification_outcomes_total%s[5m]))' % promql.matchers([config.selector]),
          },
        ] + outcomeRules('5m') + outcomeRules('1h'),
      },
      {
        name: 'push-notification-messages',
        // Azure: messages reaching a terminal state (Completed, Abandoned, NoTargetFound, Canceled).
        // Everlive: notifications first seen, by their Status.
        rules: [
          {
            record: 'source_target_state:push_notification_messages:rate%s' % window,
            expr: 'sum by (source, target, state) (rate(push_notification_messages_total%s[%s]))' % [promql.matchers([config.selector]), window],
          }
          for window in ['5m', '1h']
        ],
      },
    ],
  },
}
