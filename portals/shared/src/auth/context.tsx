import { createContext, useContext, useEffect, useState, useSyncExternalStore, type ReactNode } from 'react';
import { useLocation, useNavigate } from 'react-router';
import { Button, Stack, Text, Title } from '@mantine/core';
import type { AuthSession, SignedInUser } from './session';
import { LoadingState } from '../components/states';

const AuthContext = createContext<AuthSession | null>(null);

export function AuthProvider({ session, children }: { session: AuthSession; children: ReactNode }) {
  return <AuthContext.Provider value={session}>{children}</AuthContext.Provider>;
}

export function useSession(): AuthSession {
  const s = useContext(AuthContext);
  if (!s) throw new Error('useSession outside AuthProvider');
  return s;
}

/** The signed-in user (re-renders on sign-in, refresh and sign-out). */
export function useUser(): SignedInUser | undefined {
  const s = useSession();
  return useSyncExternalStore(
    (l) => s.subscribe(l),
    () => s.user(),
  );
}

export function useHasScope(scope: string): boolean {
  return useUser()?.scopes.includes(scope) ?? false;
}

/** Starts sign-in and returns to the current page afterwards. */
export function useSignIn(): () => void {
  const s = useSession();
  const location = useLocation();
  return () => {
    void s.signIn(location.pathname + location.search);
  };
}

/** Pages that need a user: sends the visitor to the key manager's sign-in page, then back here. */
export function RequireSignIn({ children }: { children: ReactNode }) {
  const user = useUser();
  const session = useSession();
  const location = useLocation();
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!user && !error) {
      session.signIn(location.pathname + location.search).catch((e: unknown) => setError(String((e as Error).message ?? e)));
    }
  }, [user, error, session, location.pathname, location.search]);
  if (user) return <>{children}</>;
  if (error) {
    return (
      <Stack align="flex-start" role="alert">
        <Title order={2}>Cannot sign in</Title>
        <Text>{error}</Text>
        <Button onClick={() => setError(undefined)}>Try again</Button>
      </Stack>
    );
  }
  return <LoadingState label="Going to the sign-in page" />;
}

/** `/<portal>/callback`: redeems the authorization code, then goes back where sign-in started. */
export function SignInCallbackPage() {
  const session = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const [error, setError] = useState<string>();
  const [started] = useState(() => ({ done: false }));
  useEffect(() => {
    if (started.done) return;
    started.done = true;
    session
      .completeSignIn(new URLSearchParams(location.search))
      .then((to) => navigate(to, { replace: true }))
      .catch((e: unknown) => setError((e as Error).message));
  }, [session, navigate, location.search, started]);
  if (error) {
    return (
      <Stack align="flex-start" role="alert">
        <Title order={2}>Sign-in failed</Title>
        <Text>{error}</Text>
        <Button onClick={() => void session.signIn('/')}>Sign in again</Button>
      </Stack>
    );
  }
  return <LoadingState label="Signing in" />;
}
