export { ApiError, unwrap } from './api/error';
export {
  API_BASES,
  adminClient,
  platformClient,
  type PlatformClient,
  analyticsClient,
  type AnalyticsClient,
  devportalClient,
  publisherClient,
  type AdminClient,
  type DevportalClient,
  type PublisherClient,
} from './api/clients';
export type { paths as PublisherPaths, components as PublisherComponents } from '../generated/publisher';
export type { paths as DevportalPaths, components as DevportalComponents } from '../generated/devportal';
export type { paths as AdminPaths, components as AdminComponents } from '../generated/admin';
export type { components as PlatformComponents } from '../generated/platform';
export type { components as AnalyticsComponents } from '../generated/analytics';
export { AuthSession, SignInError, type PortalAuthConfig, type SignedInUser } from './auth/session';
export { AuthProvider, RequireSignIn, SignInCallbackPage, useHasScope, useSession, useSignIn, useUser } from './auth/context';
export { PortalShell, UserMenu, type NavItem } from './layout/PortalShell';
export { EmptyState, ErrorNotice, LoadingState } from './components/states';
export { ListStates } from './components/ListStates';
export { PageControls } from './components/PageControls';
export { ConfirmDialog } from './components/ConfirmDialog';
export { mountPortal } from './app';
export { AnalyticsPanel, type AnalyticsScope, type AnalyticsSummary } from './analytics/AnalyticsPanel';
export { useDraft, type Draft } from './forms/draft';
