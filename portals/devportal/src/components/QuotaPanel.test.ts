import { describe, expect, it } from 'vitest';
import { limitText, perWindow } from './QuotaPanel';

const usage = { policy: 'p', windowStart: '', windowEnd: '', used: 0, refused: 0 };

describe('quota wording', () => {
  it('names the window in its largest whole unit', () => {
    expect(perWindow(60)).toBe('per minute');
    expect(perWindow(600)).toBe('per 10 minutes');
    expect(perWindow(86_400)).toBe('per day');
    expect(perWindow(30 * 86_400)).toBe('per month');
    expect(perWindow(90)).toBe('per 90 seconds');
  });
  it('says what a limit allows', () => {
    expect(limitText({ ...usage, limit: { requests: 5000, windowSeconds: 60 } })).toBe('5,000 requests per minute');
    expect(limitText({ ...usage, limit: { bytes: 2 << 20, windowSeconds: 3600 } })).toBe('2 MB per hour');
    expect(limitText({ ...usage, limit: null })).toBe('No limit');
  });
});
