import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { API, renderApiPage, scriptedServer } from '../testing';
import { withUrls } from './EndpointsPanel';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('withUrls', () => {
  it('keeps each endpoint settings and the other keys, and drops an endpoint whose URL is cleared', () => {
    const old = { endpoint_type: 'http', production_endpoints: { url: 'http://a', config: { retryTimeOut: '3' } }, sandbox_endpoints: { url: 'http://s' }, endpoint_security: { production: { type: 'BASIC' } } };
    expect(withUrls(old, 'http://b', '')).toEqual({
      endpoint_type: 'http',
      production_endpoints: { url: 'http://b', config: { retryTimeOut: '3' } },
      endpoint_security: { production: { type: 'BASIC' } },
    });
    expect(withUrls(undefined, 'http://p', 'http://s')).toEqual({ endpoint_type: 'http', production_endpoints: { url: 'http://p' }, sandbox_endpoints: { url: 'http://s' } });
  });
});

describe('Endpoints', () => {
  it('tests a URL through the control plane and saves both URLs with If-Match, everything else as read', async () => {
    const seen = scriptedServer((method, path, body, query) => {
      if (method === 'GET' && path === '/apis/api1') return [200, API, { ETag: '"e1"' }];
      if (method === 'POST' && path === '/apis/validate-endpoint')
        return query.get('endpointUrl')?.includes('down')
          ? [200, { statusCode: 0, statusMessage: 'Connection error', error: 'connection refused' }]
          : [200, { statusCode: 200, statusMessage: 'OK', error: null }];
      if (method === 'PUT' && path === '/apis/api1') return [200, body, { ETag: '"e2"' }];
      return undefined;
    });
    renderApiPage('endpoints');
    const form = await screen.findByRole('form', { name: 'Endpoints' });
    expect(within(form).getByLabelText('Production endpoint')).toHaveProperty('value', 'http://backend.example.com/pizzashack');
    fireEvent.click(within(form).getByRole('button', { name: 'Test production endpoint' }));
    expect(await within(form).findByText('✓ Reachable: 200 OK')).toBeTruthy();
    expect(seen.find((s) => s.path === '/apis/validate-endpoint')?.query.get('apiId')).toBe('api1');

    fireEvent.change(within(form).getByLabelText('Sandbox endpoint'), { target: { value: 'http://down.example.com' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Test sandbox endpoint' }));
    expect(await within(form).findByText('✗ Not reachable: Connection error (connection refused)')).toBeTruthy();

    fireEvent.click(within(form).getByRole('button', { name: 'Save' }));
    expect(await within(form).findByText(/^Saved\./)).toBeTruthy();
    const put = seen.find((s) => s.method === 'PUT');
    expect(put?.headers.get('If-Match')).toBe('"e1"');
    expect(put?.body).toEqual({
      ...API,
      endpointConfig: {
        endpoint_type: 'http',
        production_endpoints: { url: 'http://backend.example.com/pizzashack', config: { retryTimeOut: '3' } },
        sandbox_endpoints: { url: 'http://down.example.com' },
      },
    });
  });

  it('says what it cannot edit: a load-balanced endpoint', async () => {
    scriptedServer((method, path) => {
      if (method === 'GET' && path === '/apis/api1') return [200, { ...API, endpointConfig: { endpoint_type: 'load_balance', production_endpoints: [{ url: 'http://a' }] } }];
      return undefined;
    });
    renderApiPage('endpoints');
    expect(await screen.findByText("This API's endpoint is of type load_balance")).toBeTruthy();
    expect(screen.queryByRole('form', { name: 'Endpoints' })).toBeNull();
  });
});
