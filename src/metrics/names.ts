/** Metric family names: the contract in ../shared/design.md "Metrics". */
export const metricNames = {
  outcomes: 'push_notification_outcomes_total',
  messages: 'push_notification_messages_total',
  trackedMessages: 'push_notification_tracked_messages',
  trackingExpired: 'push_notification_tracking_expired_total',
  queueDuration: 'push_notification_queue_duration_seconds',
  processingDuration: 'push_notification_processing_duration_seconds',
  pnsErrors: 'push_notification_pns_errors_total',
  sourceUp: 'push_notification_source_up',
  sourceLastSuccess: 'push_notification_source_last_success_timestamp_seconds',
  upstreamRequests: 'push_notification_upstream_requests_total',
  upstreamRequestDuration: 'push_notification_upstream_request_duration_seconds',
  intakeNotifications: 'push_notification_intake_notifications_total',
  invalidItems: 'push_notification_invalid_items_total',
  buildInfo: 'push_notification_exporter_build_info',
  // Hub-wide counts from Azure Monitor platform metrics (source="azure_monitor"), beside the outcomes.
  hubOutgoing: 'push_notification_hub_outgoing_total',
  hubPushes: 'push_notification_hub_pushes_total',
  hubSends: 'push_notification_hub_sends_total',
  hubRequests: 'push_notification_hub_requests_total',
  hubFailedRequests: 'push_notification_hub_failed_requests_total',
  hubScheduledSends: 'push_notification_hub_scheduled_sends_total',
  hubScheduledCancels: 'push_notification_hub_scheduled_cancels_total',
  hubScheduledPending: 'push_notification_hub_scheduled_pending',
} as const;

export const sourceLabels = {
  azureNotificationHubs: 'azure_notification_hubs',
  everlive: 'everlive',
  azureMonitor: 'azure_monitor',
} as const;

/** Durations of a message inside Notification Hubs: from sub-second to the 30-minute abandon window. */
export const messageDurationBuckets = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export const histogramBounds: ReadonlyMap<string, readonly number[]> = new Map([
  [metricNames.queueDuration, messageDurationBuckets],
  [metricNames.processingDuration, messageDurationBuckets],
]);
