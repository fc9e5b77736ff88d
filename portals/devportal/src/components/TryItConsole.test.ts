import { describe, expect, it } from 'vitest';
import { pathParams, requestUrl } from './TryItConsole';

describe('Try it request URLs', () => {
  it('fills the template, each value encoded, then the query', () => {
    expect(pathParams('/order/{orderId}/items/{item}')).toEqual(['orderId', 'item']);
    expect(requestUrl('https://gw:8243/pizza/1.0.0/', '/order/{orderId}', { orderId: 'a b/c' }, '?x=1')).toBe(
      'https://gw:8243/pizza/1.0.0/order/a%20b%2Fc?x=1',
    );
    expect(requestUrl('https://gw:8243/pizza/1.0.0', 'menu', {}, '  ')).toBe('https://gw:8243/pizza/1.0.0/menu');
  });

  it('leaves a missing value empty rather than sending the braces', () => {
    expect(requestUrl('https://gw/x', '/order/{id}', {}, '')).toBe('https://gw/x/order/');
  });
});
