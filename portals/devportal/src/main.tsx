import { lazy, Suspense, type ReactNode } from 'react';
import { Navigate, Route, Routes } from 'react-router';
import { LoadingState, mountPortal, PortalShell, RequireSignIn, SignInCallbackPage } from '@apim/shared';
import { CataloguePage } from './pages/CataloguePage';
import { SignUpPage } from './pages/SignUpPage';
import { ApiPage } from './pages/ApiPage';

// The application pages load on first use: an anonymous visitor's first load is the catalogue alone.
const ApplicationsPage = lazy(() => import('./pages/ApplicationsPage').then((m) => ({ default: m.ApplicationsPage })));
const CreateApplicationPage = lazy(() => import('./pages/CreateApplicationPage').then((m) => ({ default: m.CreateApplicationPage })));
const EditApplicationPage = lazy(() => import('./pages/EditApplicationPage').then((m) => ({ default: m.EditApplicationPage })));
const ApplicationPage = lazy(() => import('./pages/ApplicationPage').then((m) => ({ default: m.ApplicationPage })));

/** A page for signed-in users, loaded when first shown. */
function SignedIn({ children }: { children: ReactNode }) {
  return (
    <RequireSignIn>
      <Suspense fallback={<LoadingState label="Loading the page" />}>{children}</Suspense>
    </RequireSignIn>
  );
}

// The Developer Portal works anonymously: public APIs are listed before anyone signs in. Applications need a
// user: their pages send an anonymous visitor to sign in, and come back.
const NAV = [
  { label: 'APIs', to: '/apis' },
  { label: 'Applications', to: '/applications' },
];

mountPortal({ clientId: 'apim_devportal', basePath: '/devportal', settingsUrl: '/api/am/devportal/v3/settings' }, () => (
  <Routes>
    <Route path="callback" element={<SignInCallbackPage />} />
    <Route element={<PortalShell title="Developer Portal" nav={NAV} />}>
      <Route index element={<Navigate to="/apis" replace />} />
      <Route path="apis" element={<CataloguePage />} />
      <Route path="apis/:apiId" element={<ApiPage />} />
      <Route path="sign-up" element={<SignUpPage />} />
      <Route path="applications" element={<SignedIn><ApplicationsPage /></SignedIn>} />
      <Route path="applications/create" element={<SignedIn><CreateApplicationPage /></SignedIn>} />
      <Route path="applications/:applicationId" element={<SignedIn><ApplicationPage /></SignedIn>} />
      <Route path="applications/:applicationId/edit" element={<SignedIn><EditApplicationPage /></SignedIn>} />
      <Route path="applications/:applicationId/:tab" element={<SignedIn><ApplicationPage /></SignedIn>} />
      <Route path="*" element={<Navigate to="/apis" replace />} />
    </Route>
  </Routes>
));
