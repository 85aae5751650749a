/**
 * Range checks node-cron's `validate` does not make: it accepts steps wider than their field
 * (`*\/70` in the minutes fires only at minute 0) and reversed ranges (`59-0`). Fields as node-cron
 * reads them (https://github.com/node-cron/node-cron#cron-syntax): an optional seconds field, then
 * minute, hour, day of month, month, day of week. Names (JAN, MON) are node-cron's to check.
 */
interface Field {
  name: string;
  minimum: number;
  maximum: number;
}

const withoutSeconds: Field[] = [
  { name: 'minute', minimum: 0, maximum: 59 },
  { name: 'hour', minimum: 0, maximum: 23 },
  { name: 'day-of-month', minimum: 1, maximum: 31 },
  { name: 'month', minimum: 1, maximum: 12 },
  // 0 and 7 are both Sunday.
  { name: 'day-of-week', minimum: 0, maximum: 7 },
];
const seconds: Field = { name: 'second', minimum: 0, maximum: 59 };

/** The first out-of-range field, described; undefined when every numeric part is in range. */
export function cronRangeProblem(expression: string): string | undefined {
  const parts = expression.trim().split(/\s+/);
  const fields = parts.length === 6 ? [seconds, ...withoutSeconds] : parts.length === 5 ? withoutSeconds : undefined;
  if (!fields) return undefined;
  for (const [index, field] of fields.entries()) {
    const text = parts[index] as string;
    for (const item of text.split(',')) {
      const problem = itemProblem(item, field);
      if (problem) return `${field.name} field "${text}": ${problem} (${field.name} is ${field.minimum}-${field.maximum})`;
    }
  }
  return undefined;
}

function itemProblem(item: string, field: Field): string | undefined {
  const [range = '', step] = item.split('/');
  const bounds = range === '*' ? [field.minimum, field.maximum] : range.split('-').map((bound) => (/^\d+$/.test(bound) ? Number(bound) : undefined));
  if (bounds.some((bound) => bound === undefined)) return undefined;
  const [low, high = low] = bounds as number[];
  for (const value of [low, high] as number[]) {
    if (value < field.minimum || value > field.maximum) return `${value} is out of range`;
  }
  if ((high as number) < (low as number)) return `the range ${range} runs backwards`;
  if (step === undefined) return undefined;
  if (!/^\d+$/.test(step) || Number(step) === 0) return `step "${step}" is not a positive number`;
  const span = (high as number) - (low as number);
  if (Number(step) > span && span > 0) return `step ${step} is wider than the range ${range}: it would fire only at ${low}`;
  return undefined;
}
