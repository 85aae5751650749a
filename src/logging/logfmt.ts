/**
 * logfmt lines (https://brandur.org/logfmt), as Prometheus exporters write them with
 * `--log.format=logfmt`: `ts=… level=info msg="exporter started" url=http://…`.
 *
 * The rules (go-logfmt's, which Prometheus' own logging uses, with backslashes quoted too):
 * - a value is written bare unless it is empty or holds white space, `=`, `"`, `\\` or a control
 *   character; then it is double-quoted with `\"`, `\\`, `\n`, `\r`, `\t` and `\u00XX` escapes,
 *   so one record is always one line;
 * - keys are bare words: characters that would break a key (space, `=`, `"`, control) become `_`;
 * - nested objects are flattened with dotted keys (`failureSummary.WrongToken=3`), arrays are written
 *   as one quoted JSON value, null as `null`.
 */
export function formatLogfmt(record: Record<string, unknown>, leadingKeys: readonly string[] = []): string {
  const pairs: string[] = [];
  const written = new Set<string>();
  for (const key of leadingKeys) {
    if (!(key in record)) continue;
    written.add(key);
    appendPairs(pairs, key, record[key]);
  }
  for (const [key, value] of Object.entries(record)) {
    if (!written.has(key)) appendPairs(pairs, key, value);
  }
  return pairs.join(' ');
}

function appendPairs(pairs: string[], key: string, value: unknown): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) pairs.push(`${formatKey(key)}=""`);
    for (const [inner, innerValue] of entries) appendPairs(pairs, `${key}.${inner}`, innerValue);
    return;
  }
  pairs.push(`${formatKey(key)}=${formatValue(value)}`);
}

/* eslint-disable no-control-regex -- control characters are exactly what these patterns look for */
function formatKey(key: string): string {
  const cleaned = key.replace(/[\s="\u0000-\u001f\u007f]/g, '_');
  return cleaned === '' ? '_' : cleaned;
}

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return needsQuotes(text) ? quote(text) : text;
}

function needsQuotes(text: string): boolean {
  return text === '' || /[\s="\\\u0000-\u001f\u007f]/.test(text);
}

function quote(text: string): string {
  const escaped = text.replace(/[\\"\u0000-\u001f\u007f]/g, (character) => {
    switch (character) {
      case '\\':
        return '\\\\';
      case '"':
        return '\\"';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default:
        return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  });
  return `"${escaped}"`;
}
/* eslint-enable no-control-regex */
