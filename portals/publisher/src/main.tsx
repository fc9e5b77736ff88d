import { Navigate, Route, Routes } from 'react-router';
import { mountPortal, PortalShell, RequireSignIn, SignInCallbackPage } from '@apim/shared';
import { ApiListPage } from './pages/ApiListPage';
import { CreateProductPage } from './pages/CreateProductPage';
import { ProductListPage } from './pages/ProductListPage';
import { ProductPage } from './pages/ProductPage';
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
            <PortalShell title="Publisher" nav={[
              { label: 'APIs', to: '/apis' },
              { label: 'API products', to: '/api-products' },
            ]} />
          </RequireSignIn>
        }
      >
        <Route index element={<Navigate to="/apis" replace />} />
        <Route path="apis" element={<ApiListPage />} />
        <Route path="apis/create/openapi" element={<CreateFromOpenApiPage />} />
        <Route path="apis/:apiId/:tab?" element={<ApiPage />} />
        <Route path="api-products" element={<ProductListPage />} />
        <Route path="api-products/create" element={<CreateProductPage />} />
        <Route path="api-products/:productId" element={<ProductPage />} />
        <Route path="*" element={<Navigate to="/apis" replace />} />
      </Route>
    </Routes>
  ),
);
