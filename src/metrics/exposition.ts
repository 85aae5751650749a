/** A family as prom-client's `metric.get()` returns it (and the durable metrics, durable-metric.ts). */
export interface ExpositionSample {
  metricName?: string;
  labels?: Record<string, string | number>;
  value: number;
}

export interface ExpositionFamily {
  name: string;
  help: string;
  type: string;
  values?: ExpositionSample[];
}

/**
 * How one exposition format writes a family: its header lines, then one line per sample. Split
 * this way so a scrape can reuse the lines of samples that did not change (scrape-renderer.ts).
 */
export interface ExpositionFormat {
  /** HELP and TYPE lines, joined by newlines, without a newline at the end. */
  header(family: ExpositionFamily): string;
  /** What the sample's line shows besides its labels and value (an exemplar), by identity; undefined when none. */
  annotation(family: ExpositionFamily, sample: ExpositionSample): object | undefined;
  /** The sample's line, without a newline. */
  line(family: ExpositionFamily, sample: ExpositionSample, annotation: object | undefined): string;
}

/** The whole family: header and sample lines joined by newlines, no newline at the end. */
export function renderFamily(format: ExpositionFormat, family: ExpositionFamily): string {
  const lines = [format.header(family)];
  for (const sample of family.values ?? []) lines.push(format.line(family, sample, format.annotation(family, sample)));
  return lines.join('\n');
}
