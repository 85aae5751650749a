/**
 * Which exposition format a scrape gets, from its Accept header. Prometheus lists what it takes
 * with q-values, e.g. (2.x) `application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`
 * (https://github.com/prometheus/prometheus/blob/main/scrape/scrape.go, `scrapeAcceptHeader`).
 *
 * The exporter writes OpenMetrics 1.0.0 (also answered, same text, as the 0.0.1 draft when that is
 * the version asked for) and the Prometheus text format 0.0.4. The best-q range it can produce wins;
 * a version it cannot write (OpenMetrics 2.0) is skipped; with nothing acceptable, or no Accept at
 * all, it answers the text format, as the official client libraries do (never 406: a scrape must work).
 */
export type ScrapeFormat =
  | { format: 'openmetrics'; contentType: string }
  | { format: 'text'; contentType: string };

export const textContentType = 'text/plain; version=0.0.4; charset=utf-8';
const openMetricsVersions = ['1.0.0', '0.0.1'];

const text: ScrapeFormat = { format: 'text', contentType: textContentType };

export function negotiateScrapeFormat(accept: string | undefined): ScrapeFormat {
  let best: { choice: ScrapeFormat; quality: number } | undefined;
  for (const range of (accept ?? '').split(',')) {
    const [mediaType = '', ...parameterTexts] = range.split(';').map((part) => part.trim());
    const parameters = new Map(
      parameterTexts.map((parameter) => {
        const [name = '', value = ''] = parameter.split('=').map((part) => part.trim());
        return [name.toLowerCase(), value.replace(/^"|"$/g, '')];
      }),
    );
    const quality = parameters.has('q') ? Number(parameters.get('q')) : 1;
    if (!(quality > 0)) continue;
    const choice = producible(mediaType.toLowerCase(), parameters.get('version'));
    // Equal q: the range listed first wins (Prometheus lists its preference first).
    if (choice && (best === undefined || quality > best.quality)) best = { choice, quality };
  }
  return best?.choice ?? text;
}

function producible(mediaType: string, version: string | undefined): ScrapeFormat | undefined {
  if (mediaType === 'application/openmetrics-text' || mediaType === 'application/*') {
    const chosen = version ?? '1.0.0';
    if (!openMetricsVersions.includes(chosen)) return undefined;
    return { format: 'openmetrics', contentType: `application/openmetrics-text; version=${chosen}; charset=utf-8` };
  }
  // text/plain version=1.0.0 (Prometheus 3) differs only in allowing quoted UTF-8 names, which
  // this exporter never writes: the 0.0.4 text is valid there too, and is labelled as what it is.
  if (mediaType === 'text/plain' || mediaType === 'text/*' || mediaType === '*/*') return text;
  return undefined;
}
