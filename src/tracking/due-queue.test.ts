import { describe, expect, it } from 'vitest';
import { DueQueue } from './due-queue.js';

describe('DueQueue', () => {
  it('pops items in order of nextPollAt whatever order they were pushed in', () => {
    const queue = new DueQueue<{ nextPollAt: number; id: number }>();
    const times = Array.from({ length: 500 }, (_, index) => (index * 7919) % 1000);
    times.forEach((nextPollAt, id) => queue.push({ nextPollAt, id }));
    expect(queue.size).toBe(500);
    const popped: number[] = [];
    while (queue.size > 0) popped.push(queue.pop()!.nextPollAt);
    expect(popped).toEqual([...times].sort((a, b) => a - b));
    expect(queue.pop()).toBeUndefined();
  });

  it('removes items by predicate and keeps the rest in order', () => {
    const queue = new DueQueue<{ nextPollAt: number }>();
    for (let time = 0; time < 100; time += 1) queue.push({ nextPollAt: (time * 37) % 100 });
    const removed = queue.removeWhere((item) => item.nextPollAt % 3 === 0);
    expect(removed).toHaveLength(34);
    const rest: number[] = [];
    while (queue.size > 0) rest.push(queue.pop()!.nextPollAt);
    expect(rest).toEqual(Array.from({ length: 100 }, (_, time) => time).filter((time) => time % 3 !== 0));
  });
});
