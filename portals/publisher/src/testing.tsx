// Component-test harness: the Publisher's pages with a signed-in user, against a scripted REST server (the
// page's own requests are under test, so each answer comes from a table the test writes).
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { vi } from 'vitest';
import { AuthProvider, AuthSession } from '@apim/shared';
import { ApiPage } from './pages/ApiPage';

export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** JSON bodies parsed; multipart forms as `{field: text, or the file's name}`. */
  body: unknown;
}

/** An answer: `[status, body, headers?]`; undefined is a 404. */
export type Answer = [number, unknown, Record<string, string>?] | undefined;

async function bodyOf(req: Request): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'DELETE' || req.method === 'HEAD') return undefined;
  if (req.headers.get('Content-Type')?.startsWith('multipart/form-data')) {
    const form = await req.formData();
    const out: Record<string, string> = {};
    form.forEach((v, k) => (out[k] = typeof v === 'string' ? v : `file:${v.name}`));
    return out;
  }
  const text = await req.text();
  return text ? JSON.parse(text) : undefined;
}

/** Stubs `fetch`: each Publisher request (path after `/api/am/publisher/v4`) is recorded and answered by `answer`. */
export function scriptedServer(answer: (method: string, path: string, body: unknown, query: URLSearchParams, headers: Headers) => Answer) {
  const seen: Seen[] = [];
  vi.stubGlobal('fetch', async (input: Request | string, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(input, init);
    const url = new URL(req.url);
    const path = url.pathname.replace('/api/am/publisher/v4', '');
    const body = await bodyOf(req);
    seen.push({ method: req.method, path, query: url.searchParams, headers: req.headers, body });
    const [status, out, headers] = answer(req.method, path, body, url.searchParams, req.headers) ?? [
      404,
      { code: 404, message: 'Not Found', description: `${req.method} ${path}` },
    ];
    const text = typeof out === 'string';
    return new Response(out === undefined ? null : text ? out : JSON.stringify(out), {
      status,
      headers: {
        ...(out === undefined ? { 'Content-Length': '0' } : { 'Content-Type': text ? 'text/plain' : 'application/json' }),
        ...headers,
      },
    });
  });
  return seen;
}

/** Renders `ui` at `path` as user `admin` holding the Publisher's scopes. */
export function renderSignedIn(ui: ReactNode, path = '/', scopes = ['apim:api_view', 'apim:api_create', 'apim:api_publish', 'apim:document_manage']) {
  const session = new AuthSession({ clientId: 'apim_publisher', basePath: '/publisher', settingsUrl: '/api/am/publisher/v4/settings' });
  vi.spyOn(session, 'user').mockReturnValue({ username: 'admin', scopes });
  vi.spyOn(session, 'accessToken').mockResolvedValue('t0ken');
  const queries = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  return render(
    <MantineProvider>
      <QueryClientProvider client={queries}>
        <AuthProvider session={session}>
          <MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter>
        </AuthProvider>
      </QueryClientProvider>
    </MantineProvider>,
  );
}

/** The API's page at `/apis/api1/<tab>`, as the Publisher routes it. */
export function renderApiPage(tab: string) {
  return renderSignedIn(
    <Routes>
      <Route path="/apis/:apiId/:tab?" element={<ApiPage />} />
    </Routes>,
    `/apis/api1${tab ? `/${tab}` : ''}`,
  );
}

export const API = {
  id: 'api1',
  name: 'PizzaShackAPI',
  context: '/pizzashack',
  version: '1.0.0',
  provider: 'admin',
  lifeCycleStatus: 'CREATED',
  description: 'Pizzas',
  tags: ['food'],
  categories: [],
  visibility: 'PUBLIC',
  visibleRoles: [],
  policies: ['Unlimited'],
  endpointConfig: {
    endpoint_type: 'http',
    production_endpoints: { url: 'http://backend.example.com/pizzashack', config: { retryTimeOut: '3' } },
  },
  operations: [{ target: '/menu', verb: 'GET' }],
  businessInformation: { businessOwner: 'Jane' },
};

export const SETTINGS = {
  environment: [
    {
      id: 'env1',
      name: 'Default',
      displayName: 'Default',
      type: 'hybrid',
      serverUrl: '',
      showInApiConsole: true,
      vhosts: [{ host: 'localhost' }, { host: 'api.example.com' }],
    },
    { id: 'env2', name: 'Edge', displayName: 'Edge gateways', type: 'hybrid', serverUrl: '', showInApiConsole: true, vhosts: [{ host: 'edge.example.com' }] },
  ],
};
