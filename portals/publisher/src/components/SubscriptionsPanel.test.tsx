import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { API, renderApiPage, scriptedServer } from '../testing';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const sub = (id: string, app: string, status: string) => ({
  subscriptionId: id,
  applicationInfo: { applicationId: `${id}-app`, name: app, subscriber: 'alice' },
  throttlingPolicy: 'Gold',
  subscriptionStatus: status,
});

describe('Subscriptions', () => {
  it('lists the subscribers and blocks one for production keys, unblocks another', async () => {
    const state: Record<string, string> = { s1: 'UNBLOCKED', s2: 'BLOCKED' };
    const seen = scriptedServer((method, path, _body, query) => {
      if (method === 'GET' && path === '/apis/api1') return [200, API, { ETag: '"e1"' }];
      if (method === 'GET' && path === '/subscriptions') return [200, { count: 2, list: [sub('s1', 'Shop', state.s1 ?? ''), sub('s2', 'Kiosk', state.s2 ?? '')] }];
      const id = query.get('subscriptionId') ?? '';
      if (method === 'POST' && path === '/subscriptions/block-subscription') {
        state[id] = query.get('blockState') ?? '';
        return [200, {}];
      }
      if (method === 'POST' && path === '/subscriptions/unblock-subscription') {
        state[id] = 'UNBLOCKED';
        return [200, {}];
      }
      return undefined;
    });
    renderApiPage('subscriptions');
    const table = await screen.findByRole('table', { name: 'Subscriptions' });
    expect(within(table).getByLabelText('State of Shop').textContent).toBe('Active');
    expect(within(table).getByLabelText('State of Kiosk').textContent).toBe('Blocked');
    expect(seen.find((s) => s.path === '/subscriptions')?.query.get('apiId')).toBe('api1');
    fireEvent.click(within(table).getByRole('button', { name: 'Block Shop' }));
    fireEvent.click(await screen.findByRole('menuitem', { name: 'Production keys only' }));
    expect(await within(table).findByText('Production blocked')).toBeTruthy();
    fireEvent.click(within(table).getByRole('button', { name: 'Unblock Kiosk' }));
    await vi.waitFor(() => expect(state.s2).toBe('UNBLOCKED'));
    expect(await within(table).findByText('Production blocked')).toBeTruthy();
    expect(seen.filter((s) => s.method === 'POST').map((s) => [s.path, s.query.get('subscriptionId'), s.query.get('blockState')])).toEqual([
      ['/subscriptions/block-subscription', 's1', 'PROD_ONLY_BLOCKED'],
      ['/subscriptions/unblock-subscription', 's2', null],
    ]);
  });
});
