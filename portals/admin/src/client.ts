import { useMemo } from 'react';
import { adminClient, useSession, type AdminClient } from '@apim/shared';

/** The Admin REST API (v4) as the signed-in administrator. */
export function useAdmin(): AdminClient {
  const session = useSession();
  return useMemo(() => adminClient(session), [session]);
}
