import '@mantine/core/styles.css';
import { createTheme, MantineProvider, type CSSVariablesResolver } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { AuthProvider } from './auth/context';
import { AuthSession, type PortalAuthConfig } from './auth/session';
import { ApiError } from './api/error';

/** Mantine's defaults, with the contrast WCAG AA asks for (4.5:1 for text): darker primary and dimmed text; no
 * animation for those whose system asks for reduced motion (WCAG 2.3.3). */
const theme = createTheme({ primaryShade: { light: 9, dark: 8 }, autoContrast: true, respectReducedMotion: true });
const contrast: CSSVariablesResolver = (t) => ({
  variables: {},
  light: { '--mantine-color-dimmed': t.colors.gray[7] ?? '' },
  dark: { '--mantine-color-dimmed': t.colors.dark[1] ?? '' },
});

/** Starts a portal: theme (light or dark, as the system prefers), server state, routing under its base path, auth. */
export function mountPortal(config: PortalAuthConfig, render: (session: AuthSession) => ReactNode): AuthSession {
  const session = new AuthSession(config);
  const queries = new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        // A refusal (4xx) is an answer, not a hiccup.
        retry: (count, e) => !(e instanceof ApiError && e.status < 500) && count < 2,
      },
    },
  });
  // Another user (or none) may see other things: refetch on sign-in and sign-out, not on a token refresh.
  let who = session.user()?.username;
  session.subscribe(() => {
    const now = session.user()?.username;
    if (now !== who) {
      who = now;
      void queries.invalidateQueries();
    }
  });
  const root = document.getElementById('root');
  if (!root) throw new Error('no #root element');
  createRoot(root).render(
    <StrictMode>
      <MantineProvider theme={theme} cssVariablesResolver={contrast} defaultColorScheme="auto">
        <QueryClientProvider client={queries}>
          <AuthProvider session={session}>
            <BrowserRouter basename={config.basePath}>{render(session)}</BrowserRouter>
          </AuthProvider>
        </QueryClientProvider>
      </MantineProvider>
    </StrictMode>,
  );
  return session;
}
