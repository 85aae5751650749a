/**
 * The MongoDB query subset the Everlive REST API accepts in `X-Everlive-Filter`:
 * $gt $gte $lt $lte $eq $ne $in $nin $exists $and $or, dotted paths, ISO 8601 dates.
 * https://docs.telerik.com/platform/backend-services/rest/queries/queries-filtering
 * Also sorting (`X-Everlive-Sort`: {"Field": 1 | -1, ...}).
 */
export class FilterError extends Error {
  override name = 'FilterError';
}

type Document = Record<string, unknown>;

const isoDatePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export function matchesFilter(document: Document, filter: unknown): boolean {
  if (!isRecord(filter)) throw new FilterError('a filter must be a JSON object');
  return Object.entries(filter).every(([key, condition]) => {
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(condition) || condition.length === 0) throw new FilterError(`${key} takes a non-empty array`);
      const results = condition.map((part) => matchesFilter(document, part));
      return key === '$and' ? results.every(Boolean) : results.some(Boolean);
    }
    if (key.startsWith('$')) throw new FilterError(`unsupported operator ${key}`);
    return matchesCondition(valueAt(document, key), condition);
  });
}

function matchesCondition(value: unknown, condition: unknown): boolean {
  if (!isRecord(condition) || !Object.keys(condition).some((key) => key.startsWith('$'))) {
    return equals(value, condition);
  }
  return Object.entries(condition).every(([operator, operand]) => {
    switch (operator) {
      case '$eq':
        return equals(value, operand);
      case '$ne':
        return !equals(value, operand);
      case '$gt':
        return compare(value, operand, (order) => order > 0);
      case '$gte':
        return compare(value, operand, (order) => order >= 0);
      case '$lt':
        return compare(value, operand, (order) => order < 0);
      case '$lte':
        return compare(value, operand, (order) => order <= 0);
      case '$in':
        if (!Array.isArray(operand)) throw new FilterError('$in takes an array');
        return operand.some((candidate) => equals(value, candidate));
      case '$nin':
        if (!Array.isArray(operand)) throw new FilterError('$nin takes an array');
        return !operand.some((candidate) => equals(value, candidate));
      case '$exists':
        return (value !== undefined) === Boolean(operand);
      default:
        throw new FilterError(`unsupported operator ${operator}`);
    }
  });
}

/** Orders documents by a sort object such as {"ModifiedAt": 1, "Id": 1}. */
export function compareBySort(sort: unknown): (left: Document, right: Document) => number {
  if (!isRecord(sort)) throw new FilterError('a sort must be a JSON object');
  const keys = Object.entries(sort).map(([field, direction]) => {
    if (direction !== 1 && direction !== -1) throw new FilterError(`sort direction for ${field} must be 1 or -1`);
    return { field, direction };
  });
  return (left, right) => {
    for (const { field, direction } of keys) {
      const order = orderOf(valueAt(left, field), valueAt(right, field));
      if (order !== 0) return order * direction;
    }
    return 0;
  };
}

export function valueAt(document: Document, path: string): unknown {
  let current: unknown = document;
  for (const part of path.split('.')) {
    if (!isRecord(current)) return undefined;
    current = current[part];
  }
  return current;
}

function equals(value: unknown, operand: unknown): boolean {
  if (Array.isArray(value)) return value.some((item) => equals(item, operand));
  const left = comparable(value);
  const right = comparable(operand);
  return left !== undefined && right !== undefined ? left === right : value === operand;
}

/** Comparisons only between values of one kind (MongoDB's type bracketing): numbers, dates, strings. */
function compare(value: unknown, operand: unknown, test: (order: number) => boolean): boolean {
  const left = comparable(value);
  const right = comparable(operand);
  if (left === undefined || right === undefined || typeof left !== typeof right) return false;
  if (isDateText(value) !== isDateText(operand)) return false;
  return test(left < right ? -1 : left > right ? 1 : 0);
}

function orderOf(left: unknown, right: unknown): number {
  const a = comparable(left);
  const b = comparable(right);
  if (a === undefined && b === undefined) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  if (typeof a !== typeof b) return typeof a === 'number' ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Dates compare as instants, whatever their textual form. */
function comparable(value: unknown): number | string | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return isDateText(value) ? Date.parse(value) : value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}

function isDateText(value: unknown): boolean {
  return typeof value === 'string' && isoDatePattern.test(value);
}

function isRecord(value: unknown): value is Document {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
