import { useMemo } from 'react';
import { devportalClient, useSession, type DevportalClient } from '@apim/shared';

/** The DevPortal REST API (v3): anonymous until the visitor signs in. */
export function useDevportal(): DevportalClient {
  const session = useSession();
  return useMemo(() => devportalClient(session), [session]);
}
