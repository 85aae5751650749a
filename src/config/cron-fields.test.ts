import { describe, expect, it } from 'vitest';
import { cronRangeProblem } from './cron-fields.js';

describe('cronRangeProblem', () => {
  it.each(['0 * * * * *', '*/30 * * * * *', '*/10 * * * *', '0 0 1 1 0', '0 0 * * 7', '0-59/15 8-18 * * 1-5', '5,10,59 * * * *', '0 9 * JAN MON', '*/59 * * * *'])(
    'accepts %s',
    (expression) => {
      expect(cronRangeProblem(expression)).toBeUndefined();
    },
  );

  it.each([
    ['*/60 * * * * *', 'second field "*/60": step 60 is wider than the range *: it would fire only at 0 (second is 0-59)'],
    ['*/70 * * * *', 'minute field "*/70": step 70 is wider than the range *: it would fire only at 0 (minute is 0-59)'],
    ['0 */24 * * *', 'hour field "*/24": step 24 is wider than the range *: it would fire only at 0 (hour is 0-23)'],
    ['0 0 0 * *', 'day-of-month field "0": 0 is out of range (day-of-month is 1-31)'],
    ['0 0 * 13 *', 'month field "13": 13 is out of range (month is 1-12)'],
    ['0 0 * * 8', 'day-of-week field "8": 8 is out of range (day-of-week is 0-7)'],
    ['59-0 * * * *', 'minute field "59-0": the range 59-0 runs backwards (minute is 0-59)'],
    ['5,99 * * * *', 'minute field "5,99": 99 is out of range (minute is 0-59)'],
    ['0-10/0 * * * *', 'minute field "0-10/0": step "0" is not a positive number (minute is 0-59)'],
  ])('refuses %s', (expression, problem) => {
    expect(cronRangeProblem(expression)).toBe(problem);
  });

  it('leaves other field counts and names to node-cron', () => {
    expect(cronRangeProblem('every minute')).toBeUndefined();
    expect(cronRangeProblem('* * * * FOO')).toBeUndefined();
  });
});
