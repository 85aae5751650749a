import { describe, expect, it } from 'vitest';
import { compareBySort, FilterError, matchesFilter } from './filter.js';

const notification = {
  Id: 'b',
  ModifiedAt: '2026-03-01T10:00:00.500Z',
  Status: 'Sent',
  Feedback: { '4': { Sent: 8, Failed: 1, Deactivated: 0 }, '3': { Sent: 2, Failed: 0, Deactivated: 0 } },
  Tags: ['vip', 'beta'],
};

describe('matchesFilter', () => {
  it.each([
    [{ ModifiedAt: { $gte: '2026-03-01T10:00:00.500Z' } }, true],
    [{ ModifiedAt: { $gt: '2026-03-01T10:00:00.500Z' } }, false],
    [{ ModifiedAt: { $gt: '2026-03-01T11:00:00+02:00' } }, true],
    [{ ModifiedAt: { $lt: '2026-03-01T10:00:01Z', $gte: '2026-03-01T09:00:00Z' } }, true],
    [{ ModifiedAt: { $lte: '2026-03-01T10:00:00.499Z' } }, false],
    [{ 'Feedback.4.Failed': { $gt: 0 } }, true],
    [{ 'Feedback.3.Failed': { $gt: 0 } }, false],
    [{ 'Feedback.Failed': { $gt: 0 } }, false],
    [{ Status: 'Sent' }, true],
    [{ Status: { $eq: 'Sent' } }, true],
    [{ Status: { $ne: 'Sent' } }, false],
    [{ Status: { $in: ['Queued', 'Sent'] } }, true],
    [{ Status: { $nin: ['Queued', 'Sent'] } }, false],
    [{ Status: { $exists: true } }, true],
    [{ Missing: { $exists: false } }, true],
    [{ Missing: { $gte: 0 } }, false],
    [{ Tags: 'vip' }, true],
    [{ $or: [{ Status: 'Queued' }, { Id: 'b' }] }, true],
    [{ $and: [{ Status: 'Sent' }, { Id: 'a' }] }, false],
    [{ ModifiedAt: { $gte: 5 } }, false],
  ])('%j → %s', (filter, expected) => {
    expect(matchesFilter(notification, filter)).toBe(expected);
  });

  it('refuses unsupported operators and malformed filters', () => {
    expect(() => matchesFilter(notification, { Status: { $regex: 'S' } })).toThrow(FilterError);
    expect(() => matchesFilter(notification, { $where: 'true' })).toThrow(/unsupported operator \$where/);
    expect(() => matchesFilter(notification, [])).toThrow(/JSON object/);
    expect(() => matchesFilter(notification, { $or: [] })).toThrow(/non-empty array/);
  });
});

describe('compareBySort', () => {
  it('orders by several keys, dates as instants, missing values first', () => {
    const documents = [
      { Id: 'c', ModifiedAt: '2026-03-01T10:00:01Z' },
      { Id: 'b', ModifiedAt: '2026-03-01T10:00:00.000Z' },
      { Id: 'a', ModifiedAt: '2026-03-01T12:00:00+02:00' },
      { Id: 'z' },
    ];
    expect(documents.sort(compareBySort({ ModifiedAt: 1, Id: 1 })).map((document) => document.Id)).toEqual(['z', 'a', 'b', 'c']);
    expect(documents.sort(compareBySort({ Id: -1 })).map((document) => document.Id)).toEqual(['z', 'c', 'b', 'a']);
  });
});
