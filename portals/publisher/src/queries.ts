// The Publisher's server state that several tabs of an API share: one query key each, so a change made on one
// tab (a revision deployed, the lifecycle changed, the description saved) refreshes every tab that shows it.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { ApiError, unwrap, type PublisherComponents } from '@apim/shared';
import { usePublisher, type Api } from './client';

export type Revision = PublisherComponents['schemas']['APIRevision'];
export type Deployment = PublisherComponents['schemas']['APIRevisionDeployment'];
export type Settings = PublisherComponents['schemas']['Settings'];
export type Environment = PublisherComponents['schemas']['Environment'];
export type Document = PublisherComponents['schemas']['Document'];

/** Beyond WSO2's `APIRevisionDeployment`: each gateway node serving the environment and whether it runs the revision. */
export interface GatewayDeployment {
  gatewayId: string;
  status: 'DEPLOYED' | 'PENDING' | string;
  reportedTime?: string;
}

export const queryKeys = {
  /** Everything about one API (a prefix: invalidating it refreshes every tab). */
  api: (id: string) => ['api', id],
  revisions: (id: string) => ['api', id, 'revisions'],
  deployments: (id: string) => ['api', id, 'deployments'],
  lifecycle: (id: string) => ['api', id, 'lifecycle-state'],
  lifecycleHistory: (id: string) => ['api', id, 'lifecycle-history'],
  documents: (id: string) => ['api', id, 'documents'],
  thumbnail: (id: string) => ['api', id, 'thumbnail'],
  settings: () => ['settings'],
  categories: () => ['api-categories'],
};

/** An API as read, with the `ETag` an update must send back (`If-Match`). */
export interface ApiRead {
  api: Api;
  etag?: string;
}

export function useApi(apiId: string) {
  const client = usePublisher();
  return useQuery({
    queryKey: queryKeys.api(apiId),
    queryFn: async (): Promise<ApiRead> => {
      const r = await client.GET('/apis/{apiId}', { params: { path: { apiId } } });
      return { api: unwrap(r), etag: r.response.headers.get('ETag') ?? undefined };
    },
  });
}

export function useSettings() {
  const client = usePublisher();
  return useQuery({
    queryKey: queryKeys.settings(),
    queryFn: async () => unwrap(await client.GET('/settings')),
    staleTime: 60_000,
  });
}

export function useRevisions(apiId: string) {
  const client = usePublisher();
  return useQuery({
    queryKey: queryKeys.revisions(apiId),
    queryFn: async () => unwrap(await client.GET('/apis/{apiId}/revisions', { params: { path: { apiId } } })).list ?? [],
  });
}

export function useDeployments(apiId: string) {
  const client = usePublisher();
  return useQuery({
    queryKey: queryKeys.deployments(apiId),
    queryFn: async () =>
      (unwrap(await client.GET('/apis/{apiId}/deployments', { params: { path: { apiId } } })).list ?? []) as (Deployment & {
        gatewayDeployments?: GatewayDeployment[];
      })[],
  });
}

/** The environment a one-click deployment goes to: `Default` when there is one, else the first. */
export function defaultEnvironment(settings: Settings | undefined): { name: string; vhost?: string } | undefined {
  const envs = settings?.environment ?? [];
  const env = envs.find((e) => e.name === 'Default') ?? envs[0];
  if (!env) return undefined;
  return { name: env.name, vhost: env.vhosts?.[0]?.host };
}

/** "5 Dec 2026, 13:49" for an RFC 3339 time; the text as it came when it is not one. */
export function when(time: string | undefined): string {
  if (!time) return '';
  const t = new Date(time);
  return Number.isNaN(t.getTime()) ? time : t.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * Edits of the API as a form read it: `save(changes)` sends `PUT /apis/{apiId}` with the form's changes over the
 * API exactly as it was read (so everything the form does not show goes back unchanged) and `If-Match` with the
 * `ETag` it was read with, so a change saved meanwhile elsewhere is refused (412), not overwritten. After a 412,
 * `reread()` takes the API as it is now; the form keeps its input, to apply it again on top.
 */
export function useApiEditor(apiId: string, read: ApiRead) {
  const client = usePublisher();
  const queries = useQueryClient();
  const [base, setBase] = useState<ApiRead>(read);
  const save = useMutation({
    mutationFn: async (changes: Partial<Api>): Promise<ApiRead> => {
      const r = await client.PUT('/apis/{apiId}', {
        params: { path: { apiId }, header: base.etag ? { 'If-Match': base.etag } : undefined },
        body: { ...base.api, ...changes },
      });
      return { api: unwrap(r), etag: r.response.headers.get('ETag') ?? undefined };
    },
    onSuccess: (next) => {
      setBase(next);
      queries.setQueryData(queryKeys.api(apiId), next);
    },
  });
  const reread = useMutation({
    mutationFn: async (): Promise<ApiRead> => {
      const r = await client.GET('/apis/{apiId}', { params: { path: { apiId } } });
      return { api: unwrap(r), etag: r.response.headers.get('ETag') ?? undefined };
    },
    onSuccess: (next) => {
      setBase(next);
      save.reset();
      queries.setQueryData(queryKeys.api(apiId), next);
    },
  });
  const stale = save.error instanceof ApiError && save.error.status === 412;
  return { base, save, reread, stale };
}
