// Component-test harness: the DevPortal's pages with a signed-in user, against a scripted REST server (the
// page's own requests are under test, so each answer comes from a table the test writes).
import { MantineProvider } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { MemoryRouter } from 'react-router';
import { vi } from 'vitest';
import { AuthProvider, AuthSession } from '@apim/shared';
import type { KeyManager } from './queries';

export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: unknown;
}

/** An answer: `[status, body, headers?]`; undefined is a 404. */
export type Answer = [number, unknown, Record<string, string>?] | undefined;

/** Stubs `fetch`: each DevPortal request (path after `/api/am/devportal/v3`) is recorded and answered by `answer`. */
export function scriptedServer(answer: (method: string, path: string, body: unknown, query: URLSearchParams) => Answer) {
  const seen: Seen[] = [];
  vi.stubGlobal('fetch', async (input: Request | string, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(input, init);
    const url = new URL(req.url);
    const path = url.pathname.replace('/api/am/devportal/v3', '');
    const text = req.method === 'GET' || req.method === 'DELETE' ? '' : await req.text();
    const body: unknown = text ? JSON.parse(text) : undefined;
    seen.push({ method: req.method, path, query: url.searchParams, headers: req.headers, body });
    const [status, out, headers] = answer(req.method, path, body, url.searchParams) ?? [404, { code: 404, message: 'Not Found', description: `${req.method} ${path}` }];
    return new Response(out === undefined ? null : JSON.stringify(out), {
      status,
      headers: { ...(out === undefined ? { 'Content-Length': '0' } : { 'Content-Type': 'application/json' }), ...headers },
    });
  });
  return seen;
}

/** Renders `ui` at `path` as user `admin` holding `apim:subscribe`. */
export function renderSignedIn(ui: ReactNode, path = '/') {
  const session = new AuthSession({ clientId: 'apim_devportal', basePath: '/devportal', settingsUrl: '/api/am/devportal/v3/settings' });
  const user = { username: 'admin', scopes: ['apim:subscribe'] };
  vi.spyOn(session, 'user').mockReturnValue(user);
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

export const RESIDENT: KeyManager = {
  id: 'resident',
  name: 'Resident Key Manager',
  type: 'default',
  displayName: 'Resident Key Manager',
  enabled: true,
  availableGrantTypes: ['client_credentials', 'password', 'refresh_token', 'authorization_code'],
  tokenEndpoint: 'https://localhost:9443/oauth2/token',
  enableTokenEncryption: false,
  enableTokenHashing: true,
  enableOAuthAppCreation: true,
  enableMapOAuthConsumerApps: false,
  tokenType: 'DIRECT',
};
