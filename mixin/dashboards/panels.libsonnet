// Small constructors for the dashboards' variables and panels (Grafana schema 39). Every panel and
// query names the data source through the $datasource variable, so no data source uid is baked in.
{
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // One query. Exemplars (Prometheus --enable-feature=exemplar-storage) draw the notification_id of
  // the most recent contributing message on the graph; the data source's exemplar link opens it.
  query(expr, legend, refId='A', instant=false, exemplar=false):: {
    datasource: $.datasource,
    refId: refId,
    expr: expr,
    legendFormat: legend,
    range: !instant,
    instant: instant,
  } + (if exemplar then { exemplar: true } else {}),

  // Grafana's label_values(selector, label), refreshed when the time range changes.
  variable(name, label, selector, labelName, allValue=null):: {
    type: 'query',
    name: name,
    label: label,
    datasource: $.datasource,
    definition: 'label_values(%s, %s)' % [selector, labelName],
    query: { query: 'label_values(%s, %s)' % [selector, labelName], refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    includeAll: true,
    multi: true,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    regex: '',
    sort: 1,
    hide: 0,
    skipUrlSync: false,
  } + (if allValue == null then {} else { allValue: allValue }),

  datasourceVariable:: {
    type: 'datasource',
    name: 'datasource',
    label: 'Data source',
    query: 'prometheus',
    current: {},
    hide: 0,
    includeAll: false,
    multi: false,
    options: [],
    refresh: 1,
    regex: '',
    skipUrlSync: false,
  },

  row(id, title, y):: {
    type: 'row',
    id: id,
    title: title,
    collapsed: false,
    gridPos: { h: 1, w: 24, x: 0, y: y },
    panels: [],
  },

  local thresholds(steps) = { mode: 'absolute', steps: steps },
  green:: [{ color: 'green', value: null }],

  // A time series. stacked: areas on top of each other (parts of a whole); bars: one bar per interval.
  timeseries(id, title, description, unit, gridPos, targets, stacked=false, bars=false, fill=null, steps=$.green, thresholdsStyle=null, min=null, max=null, softMin=true, calcs=['mean', 'max', 'lastNotNull'], decimals=null):: {
    type: 'timeseries',
    id: id,
    title: title,
    description: description,
    datasource: $.datasource,
    gridPos: gridPos,
    fieldConfig: {
      defaults: {
        unit: unit,
        custom: {
          drawStyle: if bars then 'bars' else 'line',
          lineWidth: 1,
          fillOpacity: if fill != null then fill else if stacked || bars then 60 else 10,
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: if stacked then 'normal' else 'none', group: 'A' },
        } + (if softMin then { axisSoftMin: 0 } else {})
        + (if thresholdsStyle == null then {} else { thresholdsStyle: { mode: thresholdsStyle } }),
        thresholds: thresholds(steps),
      } + (if min == null then {} else { min: min })
      + (if max == null then {} else { max: max })
      + (if decimals == null then {} else { decimals: decimals }),
      overrides: [],
    },
    options: {
      legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: calcs },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    targets: targets,
  },

  stat(id, title, description, unit, gridPos, targets, steps=$.green, decimals=null, mappings=[]):: {
    type: 'stat',
    id: id,
    title: title,
    description: description,
    datasource: $.datasource,
    gridPos: gridPos,
    fieldConfig: {
      defaults: {
        unit: unit,
        mappings: mappings,
        thresholds: thresholds(steps),
      } + (if decimals == null then {} else { decimals: decimals }),
      overrides: [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'auto',
    },
    targets: targets,
  },

  grid(x, y, w, h):: { h: h, w: w, x: x, y: y },

  dashboard(config, uid, title, description, variables, panels):: {
    uid: uid,
    title: title,
    description: description,
    tags: config.dashboardTags,
    editable: true,
    graphTooltip: 1,
    timezone: config.dashboardTimezone,
    refresh: config.dashboardRefresh,
    schemaVersion: 39,
    version: 1,
    time: { from: config.dashboardTimeFrom, to: 'now' },
    timepicker: {},
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    links: [
      {
        type: 'dashboards',
        title: 'Push notifications',
        tags: ['push-notification-exporter'],
        asDropdown: false,
        includeVars: true,
        keepTime: true,
        icon: 'external link',
        targetBlank: false,
        tooltip: '',
        url: '',
      },
      {
        type: 'link',
        title: 'Runbooks',
        tooltip: 'What to do when an alert fires (README "Runbooks")',
        url: config.runbookURLPattern % 'runbooks',
        icon: 'doc',
        targetBlank: true,
        asDropdown: false,
        includeVars: false,
        keepTime: false,
        tags: [],
      },
    ],
    annotations: { list: [] },
    templating: { list: variables },
    panels: panels,
  },
}
