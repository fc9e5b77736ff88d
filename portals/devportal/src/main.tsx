import { Navigate, Route, Routes } from 'react-router';
import { mountPortal, PortalShell, RequireSignIn, SignInCallbackPage } from '@apim/shared';
import { CataloguePage } from './pages/CataloguePage';
import { ApiPage } from './pages/ApiPage';
import { ApplicationsPage } from './pages/ApplicationsPage';
import { CreateApplicationPage } from './pages/CreateApplicationPage';
import { ApplicationPage } from './pages/ApplicationPage';
import { EditApplicationPage } from './pages/EditApplicationPage';

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
      <Route path="applications" element={<RequireSignIn><ApplicationsPage /></RequireSignIn>} />
      <Route path="applications/create" element={<RequireSignIn><CreateApplicationPage /></RequireSignIn>} />
      <Route path="applications/:applicationId" element={<RequireSignIn><ApplicationPage /></RequireSignIn>} />
      <Route path="applications/:applicationId/edit" element={<RequireSignIn><EditApplicationPage /></RequireSignIn>} />
      <Route path="applications/:applicationId/:tab" element={<RequireSignIn><ApplicationPage /></RequireSignIn>} />
      <Route path="*" element={<Navigate to="/apis" replace />} />
    </Route>
  </Routes>
));
