import { Navigate, Route, Routes } from 'react-router';
import { mountPortal, PortalShell, RequireSignIn, SignInCallbackPage } from '@apim/shared';
import { AddPolicyPage } from './pages/AddPolicyPage';
import { AnalyticsPage } from './pages/AnalyticsPage';
import { CategoriesPage } from './pages/CategoriesPage';
import { DenyPoliciesPage } from './pages/DenyPoliciesPage';
import { RateLimitingPoliciesPage } from './pages/RateLimitingPoliciesPage';

const NAV = [
  { label: 'Analytics', to: '/analytics' },
  { label: 'Rate limiting policies', to: '/throttling' },
  { label: 'Deny policies', to: '/deny-policies' },
  { label: 'API categories', to: '/categories' },
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
      <Route path="*" element={<Navigate to="/throttling/advanced" replace />} />
    </Route>
  </Routes>
));
