import { Navigate, Route, Routes } from 'react-router';
import { mountPortal, PortalShell, SignInCallbackPage } from '@apim/shared';
import { CataloguePage } from './pages/CataloguePage';
import { ApiPage } from './pages/ApiPage';

// The Developer Portal works anonymously: public APIs are listed before anyone signs in.
mountPortal({ clientId: 'apim_devportal', basePath: '/devportal', settingsUrl: '/api/am/devportal/v3/settings' }, () => (
  <Routes>
    <Route path="callback" element={<SignInCallbackPage />} />
    <Route element={<PortalShell title="Developer Portal" nav={[{ label: 'APIs', to: '/apis' }]} />}>
      <Route index element={<Navigate to="/apis" replace />} />
      <Route path="apis" element={<CataloguePage />} />
      <Route path="apis/:apiId" element={<ApiPage />} />
      <Route path="*" element={<Navigate to="/apis" replace />} />
    </Route>
  </Routes>
));
