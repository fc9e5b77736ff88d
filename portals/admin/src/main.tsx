import { Navigate, Route, Routes } from 'react-router';
import { mountPortal, PortalShell, RequireSignIn, SignInCallbackPage } from '@apim/shared';
import { AddPolicyPage } from './pages/AddPolicyPage';
import { AnalyticsPage } from './pages/AnalyticsPage';
import { ApplicationsPage } from './pages/ApplicationsPage';
import { CategoriesPage } from './pages/CategoriesPage';
import { DenyPoliciesPage } from './pages/DenyPoliciesPage';
import { EnvironmentsPage } from './pages/EnvironmentsPage';
import { KeyManagersPage } from './pages/KeyManagersPage';
import { GatewayNodePage } from './pages/GatewayNodePage';
import { GatewayNodesPage } from './pages/GatewayNodesPage';
import { RateLimitingPoliciesPage } from './pages/RateLimitingPoliciesPage';
import { TrafficManagersPage } from './pages/TrafficManagersPage';

const NAV = [
  { label: 'Analytics', to: '/analytics' },
  { label: 'Rate limiting policies', to: '/throttling' },
  { label: 'Deny policies', to: '/deny-policies' },
  { label: 'API categories', to: '/categories' },
  { label: 'Applications', to: '/applications' },
  { label: 'Gateway environments', to: '/environments' },
  { label: 'Gateway nodes', to: '/gateway-nodes' },
  { label: 'Traffic managers', to: '/traffic-managers' },
  { label: 'Key managers', to: '/key-managers' },
];

mountPortal({ clientId: 'apim_admin', basePath: '/admin', settingsUrl: '/api/am/admin/v4/settings' }, () => (
  <Routes>
    <Route path="callback" element={<SignInCallbackPage />} />
    <Route
      element={
        <RequireSignIn>
          <PortalShell title="Admin" nav={NAV} />
        </RequireSignIn>
      }
    >
      <Route index element={<Navigate to="/throttling/advanced" replace />} />
      <Route path="throttling" element={<Navigate to="/throttling/advanced" replace />} />
      <Route path="throttling/:level" element={<RateLimitingPoliciesPage />} />
      <Route path="throttling/:level/add" element={<AddPolicyPage />} />
      <Route path="deny-policies" element={<DenyPoliciesPage />} />
      <Route path="categories" element={<CategoriesPage />} />
      <Route path="analytics" element={<AnalyticsPage />} />
      <Route path="applications" element={<ApplicationsPage />} />
      <Route path="environments" element={<EnvironmentsPage />} />
      <Route path="key-managers" element={<KeyManagersPage />} />
      <Route path="gateway-nodes" element={<GatewayNodesPage />} />
      <Route path="gateway-nodes/:gatewayId" element={<GatewayNodePage />} />
      <Route path="traffic-managers" element={<TrafficManagersPage />} />
      <Route path="*" element={<Navigate to="/throttling/advanced" replace />} />
    </Route>
  </Routes>
));
