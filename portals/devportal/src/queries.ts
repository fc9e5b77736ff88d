// The DevPortal's server state that several pages share: one query key each, so a change made on one page
// (an application created, a subscription added) refreshes every page that shows it.
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { unwrap, type DevportalComponents } from '@apim/shared';
import { useDevportal } from './client';

export type Application = DevportalComponents['schemas']['Application'];
export type ApplicationInfo = DevportalComponents['schemas']['ApplicationInfo'];
export type ApplicationKey = DevportalComponents['schemas']['ApplicationKey'];
export type KeyManager = DevportalComponents['schemas']['KeyManagerInfo'];
export type Subscription = DevportalComponents['schemas']['Subscription'];
export type KeyType = 'PRODUCTION' | 'SANDBOX';

export const queryKeys = {
  /** Every page of the user's applications (a prefix: invalidating it refreshes them all). */
  applications: () => ['applications'],
  application: (id: string) => ['application', id],
  oauthKeys: (id: string) => ['application', id, 'oauth-keys'],
  subscriptionsOfApp: (id: string) => ['subscriptions', 'application', id],
  subscriptionsOfApi: (id: string) => ['subscriptions', 'api', id],
};

/** The signed-in user's applications, `limit` a page from `offset`. */
export function useApplications(limit: number, offset: number) {
  const api = useDevportal();
  return useQuery({
    queryKey: [...queryKeys.applications(), limit, offset],
    queryFn: async () => unwrap(await api.GET('/applications', { params: { query: { limit, offset } } })),
    placeholderData: keepPreviousData,
  });
}

export function useApplication(applicationId: string) {
  const api = useDevportal();
  return useQuery({
    queryKey: queryKeys.application(applicationId),
    queryFn: async () => unwrap(await api.GET('/applications/{applicationId}', { params: { path: { applicationId } } })),
  });
}

/** The application rate-limiting plans an application can be created with. */
export function useApplicationPlans() {
  const api = useDevportal();
  return useQuery({
    queryKey: ['throttling-policies', 'application'],
    queryFn: async () =>
      unwrap(await api.GET('/throttling-policies/{policyLevel}', { params: { path: { policyLevel: 'application' }, query: { limit: 100 } } })),
  });
}

/** The key managers an application can have keys at (enabled ones only). */
export function useKeyManagers() {
  const api = useDevportal();
  return useQuery({
    queryKey: ['key-managers'],
    queryFn: async () => unwrap(await api.GET('/key-managers')).list ?? [],
    staleTime: 60_000,
  });
}

export function useOauthKeys(applicationId: string) {
  const api = useDevportal();
  return useQuery({
    queryKey: queryKeys.oauthKeys(applicationId),
    queryFn: async () => unwrap(await api.GET('/applications/{applicationId}/oauth-keys', { params: { path: { applicationId } } })).list ?? [],
  });
}

/** The keys of one type made at one key manager (the resident one is also called `default`). */
export function keysAt(list: ApplicationKey[], keyType: KeyType, km: KeyManager | undefined): ApplicationKey | undefined {
  if (!km) return undefined;
  const resident = km.type === 'default';
  return list.find(
    (k) => k.keyType === keyType && (k.keyManager === km.name || (resident && (k.keyManager === 'default' || k.keyManager === 'Resident Key Manager'))),
  );
}

const GRANT_LABELS: Record<string, string> = {
  client_credentials: 'Client credentials',
  password: 'Password',
  refresh_token: 'Refresh token',
  authorization_code: 'Authorization code',
  implicit: 'Implicit',
  'urn:ietf:params:oauth:grant-type:jwt-bearer': 'JWT bearer',
  'urn:ietf:params:oauth:grant-type:token-exchange': 'Token exchange',
  'urn:ietf:params:oauth:grant-type:device_code': 'Device code',
};

/** A grant type as people read it: `client_credentials` is "Client credentials". */
export function grantLabel(grant: string): string {
  return GRANT_LABELS[grant] ?? grant;
}
