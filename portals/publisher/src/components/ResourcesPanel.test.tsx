import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { API, renderApiPage, scriptedServer } from '../testing';
import { formOf, scopeNameProblem, withOperation } from './ResourcesPanel';

afterEach(() => {
  cleanup();
  sessionStorage.clear();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const form = {
  operations: [
    { target: '/menu', verb: 'GET', authType: 'Application & Application User', scopes: [] },
    { target: '/order', verb: 'POST', authType: 'Application & Application User', scopes: ['order:write'] },
  ],
  scopes: [{ scope: { name: 'order:write', displayName: 'Order', bindings: [] }, shared: false }],
};

describe('the resources form', () => {
  it('changes one operation and keeps the others', () => {
    const next = withOperation(form, 0, { authType: 'None' });
    expect(next.operations[0]).toEqual({ ...form.operations[0], authType: 'None' });
    expect(next.operations[1]).toBe(form.operations[1]);
    expect(next.scopes).toBe(form.scopes);
  });
  it('names what is wrong with a new scope', () => {
    expect(scopeNameProblem(form, '')).toBe('Give the scope a name');
    expect(scopeNameProblem(form, 'order write')).toBe('Letters, digits and : _ . - only');
    expect(scopeNameProblem(form, 'order:write')).toBe('The API already defines order:write');
    expect(scopeNameProblem(form, 'order:read')).toBeUndefined();
  });
  it('reads an API without operations or scopes as empty lists', () => {
    expect(formOf({ operations: undefined, scopes: undefined })).toEqual({ operations: [], scopes: [] });
  });
});

describe('Resources', () => {
  it('saves a scope given to an operation with If-Match, and keeps unsaved input in this tab across a remount', async () => {
    const seen = scriptedServer((method, path, body) => {
      if (method === 'GET' && path === '/apis/api1') return [200, API, { ETag: '"e1"' }];
      if (method === 'GET' && path === '/throttling-policies/api') return [200, { count: 1, list: [{ name: 'Unlimited' }] }];
      if (method === 'PUT' && path === '/apis/api1') return [200, body, { ETag: '"e2"' }];
      return undefined;
    });
    renderApiPage('resources');
    const panel = await screen.findByRole('form', { name: 'Resources' });
    fireEvent.change(within(panel).getByLabelText('New scope'), { target: { value: 'menu:read' } });
    fireEvent.click(within(panel).getByRole('button', { name: 'Add scope' }));
    expect(within(panel).getByRole('table', { name: 'Scopes' }).textContent).toContain('menu:read');
    expect(Object.keys(sessionStorage).some((k) => k.endsWith('resources:api1'))).toBe(true);
    // The page goes away unsaved (as on a sign-in round trip) and comes back with the input.
    cleanup();
    renderApiPage('resources');
    const again = await screen.findByRole('form', { name: 'Resources' });
    expect(within(again).getByText('Unsaved changes kept')).toBeTruthy();
    expect(within(again).getByRole('table', { name: 'Scopes' }).textContent).toContain('menu:read');
    fireEvent.click(within(again).getByRole('button', { name: 'Save' }));
    expect(await within(again).findByText(/^Saved\./)).toBeTruthy();
    expect(within(again).queryByText('Unsaved changes kept')).toBeNull();
    const put = seen.find((s) => s.method === 'PUT');
    expect(put?.headers.get('If-Match')).toBe('"e1"');
    expect((put?.body as { scopes: { scope: { name: string } }[] }).scopes.map((s) => s.scope.name)).toEqual(['menu:read']);
    expect(Object.keys(sessionStorage).some((k) => k.endsWith('resources:api1'))).toBe(false);
  });
});
