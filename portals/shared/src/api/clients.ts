// Typed clients of the three REST APIs, generated from our OpenAPI documents. Every call carries the
// session's access token when signed in (refreshed first when it is about to expire); a 401 ends the session.

import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths as PublisherPaths } from '../../generated/publisher';
import type { paths as DevportalPaths } from '../../generated/devportal';
import type { paths as AdminPaths } from '../../generated/admin';
import type { paths as PlatformPaths } from '../../generated/platform';
import type { paths as AnalyticsPaths } from '../../generated/analytics';
import type { AuthSession } from '../auth/session';

export type PublisherClient = Client<PublisherPaths>;
export type DevportalClient = Client<DevportalPaths>;
export type AdminClient = Client<AdminPaths>;
/** apim-rs's own operations (`openapi/platform-v1.json`), under `/api/am`. */
export type PlatformClient = Client<PlatformPaths>;
/** apim-rs's analytics (`openapi/analytics-v1.json`), under `/api/am`. */
export type AnalyticsClient = Client<AnalyticsPaths>;

export const API_BASES = {
  publisher: '/api/am/publisher/v4',
  devportal: '/api/am/devportal/v3',
  admin: '/api/am/admin/v4',
} as const;

export function authMiddleware(session: AuthSession): Middleware {
  return {
    async onRequest({ request }) {
      const token = await session.accessToken();
      if (token) request.headers.set('Authorization', `Bearer ${token}`);
      return request;
    },
    onResponse({ request, response }) {
      if (response.status === 401 && request.headers.has('Authorization')) session.expired();
      return response;
    },
  };
}

export interface ClientOptions {
  /** Origin of the REST APIs; default: the page's. */
  origin?: string;
  fetch?: typeof fetch;
}

function make<P extends {}>(base: string, session: AuthSession, o: ClientOptions): Client<P> {
  const client = createClient<P>({ baseUrl: `${o.origin ?? ''}${base}`, fetch: o.fetch });
  client.use(authMiddleware(session));
  return client;
}

export function publisherClient(session: AuthSession, o: ClientOptions = {}): PublisherClient {
  return make<PublisherPaths>(API_BASES.publisher, session, o);
}

export function devportalClient(session: AuthSession, o: ClientOptions = {}): DevportalClient {
  return make<DevportalPaths>(API_BASES.devportal, session, o);
}

export function adminClient(session: AuthSession, o: ClientOptions = {}): AdminClient {
  return make<AdminPaths>(API_BASES.admin, session, o);
}

export function platformClient(session: AuthSession, o: ClientOptions = {}): PlatformClient {
  return make<PlatformPaths>('/api/am', session, o);
}

export function analyticsClient(session: AuthSession, o: ClientOptions = {}): AnalyticsClient {
  return make<AnalyticsPaths>('/api/am', session, o);
}
