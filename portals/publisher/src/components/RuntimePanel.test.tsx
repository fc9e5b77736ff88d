import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Api } from '../client';
import { API, renderApiPage, scriptedServer } from '../testing';
import { changesOf, runtimeOf, runtimeProblem } from './RuntimePanel';

afterEach(() => {
  cleanup();
  sessionStorage.clear();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const api = { ...API, securityScheme: ['oauth2', 'mutualssl'], transport: ['https'], maxTps: { production: 50, productionTimeUnit: 'SECOND', sandboxTimeUnit: 'SECOND' } } as unknown as Api;

describe('the runtime form', () => {
  it('reads the API and writes back what it shows, keeping schemes it does not show', () => {
    const f = runtimeOf(api);
    expect([f.transports, f.oauth2, f.apiKey, f.productionTps, f.sandboxTps]).toEqual([['https'], true, false, 50, '']);
    const out = changesOf(api, { ...f, apiKey: true, oauth2: false, productionTps: '', sandboxTps: '' });
    expect(out.securityScheme).toEqual(['api_key', 'mutualssl']);
    expect(out.maxTps).toBeUndefined();
    expect(changesOf(api, { ...f, sandboxTps: 5 }).maxTps).toMatchObject({ production: 50, sandbox: 5, productionTimeUnit: 'SECOND' });
  });
  it('names what cannot be saved', () => {
    const f = runtimeOf(api);
    expect(runtimeProblem({ ...f, transports: [] })).toBe('Choose at least one transport');
    expect(runtimeProblem({ ...f, oauth2: false })).toMatch(/^Choose OAuth2, API keys or both/);
    expect(runtimeProblem(f)).toBeUndefined();
  });
});

describe('Runtime', () => {
  it('saves API keys switched on and a CORS origin with If-Match', async () => {
    const seen = scriptedServer((method, path, body) => {
      if (method === 'GET' && path === '/apis/api1') return [200, API, { ETag: '"e1"' }];
      if (method === 'PUT' && path === '/apis/api1') return [200, body, { ETag: '"e2"' }];
      return undefined;
    });
    renderApiPage('runtime');
    const form = await screen.findByRole('form', { name: 'Runtime' });
    fireEvent.click(within(form).getByLabelText('API keys'));
    fireEvent.click(within(form).getByLabelText("Answer browsers' cross-origin requests"));
    const origins = within(form).getByLabelText('Allowed origins');
    fireEvent.change(origins, { target: { value: 'https://shop.example.com' } });
    fireEvent.keyDown(origins, { key: 'Enter' });
    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect(await within(form).findByText(/^Saved\./)).toBeTruthy();
    const put = seen.find((s) => s.method === 'PUT');
    expect(put?.headers.get('If-Match')).toBe('"e1"');
    const sent = put?.body as Api;
    expect(sent.securityScheme).toEqual(['oauth2', 'api_key']);
    expect(sent.corsConfiguration).toMatchObject({ corsConfigurationEnabled: true, accessControlAllowOrigins: ['https://shop.example.com'] });
  });
});
