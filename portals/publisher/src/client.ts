import { useMemo } from 'react';
import { publisherClient, useSession, type PublisherClient, type PublisherComponents } from '@apim/shared';

export type Api = PublisherComponents['schemas']['API'];
export type ApiInfo = PublisherComponents['schemas']['APIInfo'];

/** The Publisher REST API (v4) as the signed-in user. */
export function usePublisher(): PublisherClient {
  const session = useSession();
  return useMemo(() => publisherClient(session), [session]);
}
