// Form input that survives the session ending: kept in sessionStorage (this tab only, gone with it) while the
// user types, so an expired session's sign-in round trip through the key manager comes back to the form as it
// was left. Cleared once the form is saved.

import { useCallback, useState } from 'react';
import { useSession } from '../auth/context';

function read<T>(key: string): T | undefined {
  try {
    const raw = sessionStorage.getItem(key);
    return raw === null ? undefined : (JSON.parse(raw) as T);
  } catch {
    return undefined;
  }
}

export interface Draft<T> {
  value: T;
  set: (next: T) => void;
  /** The form was saved (or abandoned): forget the kept input. */
  clear: (next: T) => void;
  /** The value came back from before a sign-in, not from the server. */
  restored: boolean;
}

/**
 * A form's state under `name` (unique within the portal, e.g. `resources:<apiId>`): the kept input when there is
 * one, else `initial()`.
 */
export function useDraft<T>(name: string, initial: () => T): Draft<T> {
  const session = useSession();
  const key = `apim.draft.${session.config.clientId}.${name}`;
  const [state, setState] = useState(() => {
    const kept = read<T>(key);
    return kept === undefined ? { value: initial(), restored: false } : { value: kept, restored: true };
  });
  const set = useCallback(
    (next: T) => {
      setState((s) => ({ ...s, value: next }));
      try {
        sessionStorage.setItem(key, JSON.stringify(next));
      } catch {
        // Storage full or denied: the form still works, it only does not outlive the session.
      }
    },
    [key],
  );
  const clear = useCallback(
    (next: T) => {
      sessionStorage.removeItem(key);
      setState({ value: next, restored: false });
    },
    [key],
  );
  return { value: state.value, set, clear, restored: state.restored };
}
