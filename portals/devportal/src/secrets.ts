// Consumer secrets the user has just been shown. The resident key manager keeps secrets hashed, so one is shown
// once, when made or regenerated; the portal keeps it in this page's memory (never in storage), so the token
// form can use it after the user went to subscribe elsewhere in the portal. A reload or another user forgets it.
import { useCallback, useSyncExternalStore } from 'react';
import { useUser } from '@apim/shared';

let owner: string | undefined;
let secrets: Readonly<Record<string, string>> = {};
const listeners = new Set<() => void>();

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** The secrets of `username`'s keys by key mapping id, and a way to remember one more. */
export function useConsumerSecrets(): [Readonly<Record<string, string>>, (keyMappingId: string, secret: string) => void] {
  const username = useUser()?.username;
  if (owner !== username) {
    owner = username;
    secrets = {};
  }
  const current = useSyncExternalStore(subscribe, () => secrets);
  const remember = useCallback((keyMappingId: string, secret: string) => {
    secrets = { ...secrets, [keyMappingId]: secret };
    for (const l of listeners) l();
  }, []);
  return [current, remember];
}
