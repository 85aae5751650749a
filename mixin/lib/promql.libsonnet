// PromQL building blocks shared by the rules and the dashboards.
{
  // The outcome classification (README "Failure classification"): the same three matchers in every
  // rule and panel, so an outcome name Azure adds later counts as a failure without any change.
  successes: 'outcome=~"Success|Sent"',
  attempts: 'outcome!~"Skipped|NoTargets"',
  failures: 'outcome!~"Success|Sent|Skipped|NoTargets"',

  // A gauge of shared state (source_up, last success): with several replicas on PostgreSQL exactly
  // one exports it per target, and when that work moves to another replica (a clean stop hands it
  // over at once, a replica killed loses it after its 30 s lease plus the 5 s claim interval) the
  // series ends on one instance and starts on another a scrape or a minute later. An instant
  // selector would have nothing in between, and an alert held for its `for` would start again (or
  // resolve and fire twice). last_over_time over handoverWindow keeps each instance's last value
  // through that gap; read it with max by (source, target), never sum (for a moment both
  // instances have one).
  handoverWindow: '2m',
  sharedGauge(selector):: 'last_over_time(%s[%s])' % [selector, self.handoverWindow],

  // {a, b} from the non-empty matchers (the configured selector may be ''); nothing when none are left.
  matchers(list)::
    local kept = std.filter(function(matcher) matcher != '', list);
    if kept == [] then '' else '{' + std.join(', ', kept) + '}',

  // A selector written into a Go template string inside an annotation (printf `...`): the raw
  // string cannot hold a backtick, and printf would read a % as a verb.
  forTemplate(selector)::
    assert std.length(std.findSubstr('`', selector)) == 0 : 'the selector must not contain a backtick';
    std.strReplace(selector, '%', '%%'),

  // 0.1 -> "10%", 0.05 -> "5%", 0.125 -> "12.5%".
  percent(ratio)::
    local tenths = std.floor(ratio * 1000 + 0.5);
    if tenths % 10 == 0 then '%d%%' % (tenths / 10) else '%.1f%%' % (tenths / 10),

  // A duration as the annotations say it: '15m' -> '15 minutes', '1h' -> '1 hour'.
  humanWindow(duration)::
    local units = { s: 'second', m: 'minute', h: 'hour', d: 'day' };
    local unit = std.substr(duration, std.length(duration) - 1, 1);
    local count = std.parseInt(std.substr(duration, 0, std.length(duration) - 1));
    assert std.objectHas(units, unit) : 'a window must be a number of s, m, h or d: ' + duration;
    '%d %s%s' % [count, units[unit], if count == 1 then '' else 's'],

  // A threshold as PromQL reads it: 0.1 -> "0.1" (jsonnet's own %s would print 0.10000000000000001).
  number(value)::
    if value == std.floor(value) then '%d' % value
    else
      local text = '%.6f' % value;
      local trimmed = std.rstripChars(text, '0');
      trimmed,
}
