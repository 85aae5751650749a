import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** Where the fault suite writes its figures (ignored by git; the README quotes them). */
export const resultsFolder = fileURLToPath(new URL('../faults/results/', import.meta.url));

/** Writes one suite's figures to test/faults/results/<name>.json and prints a one-line summary. */
export function writeFaultResults(name: string, figures: unknown): void {
  mkdirSync(resultsFolder, { recursive: true });
  writeFileSync(join(resultsFolder, `${name}.json`), `${JSON.stringify({ suite: name, writtenAt: new Date().toISOString(), figures }, null, 2)}\n`);
}

export function percentile(values: readonly number[], quantile: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(quantile * sorted.length) - 1))] as number;
}

/** Rounds milliseconds for reports. */
export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Samples the process's memory every few milliseconds; `stop()` gives the peak growth over the start. */
export function sampleMemory(intervalMilliseconds = 5): { stop(): { peakGrowthBytes: number; peakRssGrowthBytes: number } } {
  const used = () => {
    const usage = process.memoryUsage();
    return { heap: usage.heapUsed + usage.external, rss: usage.rss };
  };
  const start = used();
  let peak = start.heap;
  let peakRss = start.rss;
  const timer = setInterval(() => {
    const now = used();
    peak = Math.max(peak, now.heap);
    peakRss = Math.max(peakRss, now.rss);
  }, intervalMilliseconds);
  return {
    stop() {
      clearInterval(timer);
      const now = used();
      return { peakGrowthBytes: Math.max(peak, now.heap) - start.heap, peakRssGrowthBytes: Math.max(peakRss, now.rss) - start.rss };
    },
  };
}
