/** Reads the Prometheus text exposition format into series → value, as a scraper would. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[name as string] = (value as string).replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `match`. */
export function sumOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((sample) => sample.name === name && Object.entries(match).every(([key, value]) => sample.labels[key] === value))
    .reduce((total, sample) => total + sample.value, 0);
}

/** `label value → summed value` for the samples of `name` matching `match`, keyed by the given labels. */
export function groupBy(
  samples: readonly Sample[],
  name: string,
  keyLabels: readonly string[],
  match: Record<string, string> = {},
): Map<string, number> {
  const groups = new Map<string, number>();
  for (const sample of samples) {
    if (sample.name !== name || !Object.entries(match).every(([key, value]) => sample.labels[key] === value)) continue;
    const key = keyLabels.map((label) => sample.labels[label] ?? '').join('/');
    groups.set(key, (groups.get(key) ?? 0) + sample.value);
  }
  return groups;
}
