import { Navigate, Route, Routes } from 'react-router';
import { mountPortal, PortalShell, RequireSignIn, SignInCallbackPage } from '@apim/shared';
import { ApiListPage } from './pages/ApiListPage';
import { ApiPage } from './pages/ApiPage';
import { CreateFromOpenApiPage } from './pages/CreateFromOpenApiPage';

mountPortal(
  { clientId: 'apim_publisher', basePath: '/publisher', settingsUrl: '/api/am/publisher/v4/settings' },
  () => (
    <Routes>
      <Route path="callback" element={<SignInCallbackPage />} />
      <Route
        element={
          <RequireSignIn>
            <PortalShell title="Publisher" nav={[{ label: 'APIs', to: '/apis' }]} />
          </RequireSignIn>
        }
      >
        <Route index element={<Navigate to="/apis" replace />} />
        <Route path="apis" element={<ApiListPage />} />
        <Route path="apis/create/openapi" element={<CreateFromOpenApiPage />} />
        <Route path="apis/:apiId/:tab?" element={<ApiPage />} />
        <Route path="*" element={<Navigate to="/apis" replace />} />
      </Route>
    </Routes>
  ),
);
