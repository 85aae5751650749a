import type { MetricObject, Registry } from 'prom-client';
import type { ExemplarStore } from './exemplars.js';
import { renderFamily, type ExpositionFamily, type ExpositionFormat, type ExpositionSample } from './exposition.js';
import { exemplarFamilyOf, openMetricsFormat } from './openmetrics.js';
import { textFormat } from './text-format.js';

export type ScrapeFormatName = 'text' | 'openmetrics';

/** A piece of a scrape, as UTF-8 bytes; the scrape is its segments one after another. */
export interface ScrapeSegment {
  bytes: Buffer;
  /**
   * The same Buffer object is handed out again for as long as its lines do not change, so what is
   * derived from it (its compressed form, scrape-gzip.ts) can be kept by identity.
   */
  stable: boolean;
}

/** What prom-client's registry holds at run time; `changeVersion` only on the durable families. */
type RegisteredMetric = MetricObject & {
  get(): Promise<unknown>;
  changeVersion?: () => number;
};

/** A run of consecutive samples of a durable family and their rendered lines. */
interface Piece {
  labels: object[];
  values: number[];
  annotations: (object | undefined)[];
  bytes: Buffer;
}

interface DurableFamily {
  metric: RegisteredMetric;
  key: string;
  header: { text: string; bytes: Buffer };
  pieces: Piece[];
  segments: ScrapeSegment[];
}

/**
 * Samples per piece: about 30 KiB of outcome lines, near deflate's 32 KiB window, so compressing
 * pieces apart costs little ratio, and a moved counter re-renders and recompresses one piece.
 */
const samplesPerPiece = 256;
const noLabels = {};

/**
 * How each format joins its families: prom-client's `registry.metrics()` joins them with a blank
 * line and ends with a newline; OpenMetrics (openmetrics.ts) puts them line after line and ends with `# EOF`.
 */
const layouts: Record<ScrapeFormatName, { separator: string; end: (empty: boolean) => string }> = {
  text: { separator: '\n\n', end: () => '\n' },
  openmetrics: { separator: '\n', end: (empty) => (empty ? '# EOF\n' : '\n# EOF\n') },
};

/**
 * Renders /metrics family by family. A durable family (outcomes and the other totals: thousands of
 * series at the label caps) is reused whole until its totals or exemplars change, and when they
 * do, only the pieces holding a changed sample are rendered again. Every other family is collected
 * and rendered on every scrape as before: gauges read at scrape time (tracked messages, process CPU
 * and memory, the shared-state gauges of the targets this replica reports) and prom-client's own
 * counters and histograms, which have no change version.
 *
 * The output is byte for byte what `registry.metrics()` (text) and `renderOpenMetrics()` give for
 * the same state; families other than the durable ones are rendered by prom-client itself.
 */
export class ScrapeRenderer {
  private readonly durable: Record<ScrapeFormatName, Map<string, DurableFamily>> = { text: new Map(), openmetrics: new Map() };
  private readonly formats: Record<ScrapeFormatName, ExpositionFormat>;

  constructor(
    private readonly registry: Registry,
    private readonly exemplars: ExemplarStore,
  ) {
    this.formats = { text: textFormat, openmetrics: openMetricsFormat(exemplars) };
  }

  /** The scrape as segments in order; concatenated they are the whole exposition. */
  async render(format: ScrapeFormatName): Promise<ScrapeSegment[]> {
    const { separator, end } = layouts[format];
    const metrics = this.registry.getMetricsAsArray() as RegisteredMetric[];
    // All at once, as registry.metrics() does: collect() callbacks may be asynchronous.
    const families = await Promise.all(metrics.map((metric, index) => this.renderMetric(format, metric, index === 0 ? '' : separator)));
    const segments = families.flat();
    segments.push({ bytes: Buffer.from(end(metrics.length === 0)), stable: false });
    return segments;
  }

  private async renderMetric(format: ScrapeFormatName, metric: RegisteredMetric, separator: string): Promise<ScrapeSegment[]> {
    if (typeof metric.changeVersion === 'function') return this.renderDurable(format, metric, separator);
    const text = format === 'text' ? await this.registry.getSingleMetricAsString(metric.name) : renderFamily(this.formats.openmetrics, (await metric.get()) as ExpositionFamily);
    return [{ bytes: Buffer.from(separator + text), stable: false }];
  }

  private async renderDurable(format: ScrapeFormatName, metric: RegisteredMetric, separator: string): Promise<ScrapeSegment[]> {
    // The key is read before the samples are: a change in between makes the key stale, never the lines.
    const key = this.changeKey(format, metric, separator);
    const cache = this.durable[format];
    const cached = cache.get(metric.name);
    const previous = cached?.metric === metric ? cached : undefined;
    if (previous?.key === key) return previous.segments;
    const family = (await metric.get()) as ExpositionFamily;
    const rules = this.formats[format];
    const headerText = separator + rules.header(family);
    const header = previous?.header.text === headerText ? previous.header : { text: headerText, bytes: Buffer.from(headerText) };
    const samples = family.values ?? [];
    const pieces: Piece[] = [];
    for (let start = 0; start < samples.length; start += samplesPerPiece) {
      pieces.push(renderPiece(rules, family, samples.slice(start, start + samplesPerPiece), previous?.pieces[pieces.length]));
    }
    const segments = [header, ...pieces].map(({ bytes }) => ({ bytes, stable: true }));
    cache.set(metric.name, { metric, key, header, pieces, segments });
    return segments;
  }

  /** Moves with the family's totals, and in OpenMetrics with its exemplars. */
  private changeKey(format: ScrapeFormatName, metric: RegisteredMetric, separator: string): string {
    const exemplarFamily = format === 'openmetrics' ? exemplarFamilyOf(metric.name, String(metric.type)) : undefined;
    const exemplarVersion = exemplarFamily === undefined ? 0 : this.exemplars.version(exemplarFamily);
    return `${metric.changeVersion?.()}/${exemplarVersion}/${separator.length}`;
  }
}

/** The previous piece if every sample in it is the same (label set, value, exemplar), else the lines rendered again. */
function renderPiece(format: ExpositionFormat, family: ExpositionFamily, samples: ExpositionSample[], previous: Piece | undefined): Piece {
  const labels = samples.map((sample) => sample.labels ?? noLabels);
  const values = samples.map((sample) => sample.value);
  const annotations = samples.map((sample) => format.annotation(family, sample));
  if (previous && sameSamples(previous, labels, values, annotations)) return previous;
  let text = '';
  samples.forEach((sample, index) => (text += `\n${format.line(family, sample, annotations[index])}`));
  return { labels, values, annotations, bytes: Buffer.from(text) };
}

/** Label sets by identity: the totals never change a series' label set, and a new series has a new one. */
function sameSamples(piece: Piece, labels: object[], values: number[], annotations: (object | undefined)[]): boolean {
  if (piece.labels.length !== labels.length) return false;
  for (let index = 0; index < labels.length; index += 1) {
    if (piece.labels[index] !== labels[index] || !Object.is(piece.values[index], values[index]) || piece.annotations[index] !== annotations[index]) return false;
  }
  return true;
}
