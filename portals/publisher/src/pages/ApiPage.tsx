import { Anchor, Badge, Group, Stack, Tabs, Text, Title } from '@mantine/core';
import { lazy, Suspense, type ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { AnalyticsPanel, ErrorNotice, LoadingState } from '@apim/shared';
import { OverviewPanel } from '../components/OverviewPanel';
import { useApi } from '../queries';

// The tabs past the overview load on first use, so the API list and overview stay a small first load.
const BasicInfoPanel = lazy(() => import('../components/BasicInfoPanel').then((m) => ({ default: m.BasicInfoPanel })));
const ResourcesPanel = lazy(() => import('../components/ResourcesPanel').then((m) => ({ default: m.ResourcesPanel })));
const RuntimePanel = lazy(() => import('../components/RuntimePanel').then((m) => ({ default: m.RuntimePanel })));
const EndpointsPanel = lazy(() => import('../components/EndpointsPanel').then((m) => ({ default: m.EndpointsPanel })));
const DocumentsPanel = lazy(() => import('../components/DocumentsPanel').then((m) => ({ default: m.DocumentsPanel })));
const DeploymentsPanel = lazy(() => import('../components/DeploymentsPanel').then((m) => ({ default: m.DeploymentsPanel })));
const SubscriptionsPanel = lazy(() => import('../components/SubscriptionsPanel').then((m) => ({ default: m.SubscriptionsPanel })));
const LifecyclePanel = lazy(() => import('../components/LifecyclePanel').then((m) => ({ default: m.LifecyclePanel })));

function Loading({ children }: { children: ReactNode }) {
  return <Suspense fallback={<LoadingState label="Loading the tab" />}>{children}</Suspense>;
}

/** The API's pages in WSO2's order: develop (basic info, resources, runtime, endpoints, documents) → deploy → publish. */
const TABS = {
  overview: 'Overview',
  'basic-info': 'Basic info',
  resources: 'Resources',
  runtime: 'Runtime',
  endpoints: 'Endpoints',
  documents: 'Documents',
  deployments: 'Deployments',
  lifecycle: 'Lifecycle',
  subscriptions: 'Subscriptions',
  analytics: 'Analytics',
} as const;
type Tab = keyof typeof TABS;

/** `/apis/:apiId[/:tab]`: one API, a tab per thing a publisher does to it; each tab is a deep link. */
export function ApiPage() {
  const { apiId = '', tab: raw = 'overview' } = useParams();
  const navigate = useNavigate();
  const tab: Tab = raw in TABS ? (raw as Tab) : 'overview';
  const detail = useApi(apiId);
  if (detail.isPending) return <LoadingState label="Loading the API" />;
  if (detail.isError) return <ErrorNotice error={detail.error} title="Cannot load the API" />;
  const a = detail.data.api;
  return (
    <Stack>
      <Anchor component={Link} to="/apis" size="sm">
        ← APIs
      </Anchor>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>{a.name}</Title>
          <Text c="dimmed">
            {a.context} · {a.version}
          </Text>
        </div>
        <Badge size="lg" variant="light" aria-label="Lifecycle state">
          {a.lifeCycleStatus}
        </Badge>
      </Group>
      <Tabs value={tab} onChange={(v) => v && navigate(v === 'overview' ? `/apis/${apiId}` : `/apis/${apiId}/${v}`)} keepMounted={false}>
        <Tabs.List aria-label="API">
          {(Object.keys(TABS) as Tab[]).map((k) => (
            <Tabs.Tab key={k} value={k}>
              {TABS[k]}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        <Tabs.Panel value="overview" pt="md">
          <OverviewPanel apiId={apiId} api={a} />
        </Tabs.Panel>
        <Tabs.Panel value="basic-info" pt="md">
          <Loading>
            <BasicInfoPanel apiId={apiId} read={detail.data} />
          </Loading>
        </Tabs.Panel>
        <Tabs.Panel value="resources" pt="md">
          <Loading>
            <ResourcesPanel apiId={apiId} read={detail.data} />
          </Loading>
        </Tabs.Panel>
        <Tabs.Panel value="runtime" pt="md">
          <Loading>
            <RuntimePanel apiId={apiId} read={detail.data} />
          </Loading>
        </Tabs.Panel>
        <Tabs.Panel value="endpoints" pt="md">
          <Loading>
            <EndpointsPanel apiId={apiId} read={detail.data} />
          </Loading>
        </Tabs.Panel>
        <Tabs.Panel value="documents" pt="md">
          <Loading>
            <DocumentsPanel apiId={apiId} />
          </Loading>
        </Tabs.Panel>
        <Tabs.Panel value="deployments" pt="md">
          <Loading>
            <DeploymentsPanel apiId={apiId} />
          </Loading>
        </Tabs.Panel>
        <Tabs.Panel value="subscriptions" pt="md">
          <Loading>
            <SubscriptionsPanel apiId={apiId} />
          </Loading>
        </Tabs.Panel>
        <Tabs.Panel value="analytics" pt="md">
          <AnalyticsPanel scope={{ api: apiId }} />
        </Tabs.Panel>
        <Tabs.Panel value="lifecycle" pt="md">
          <Loading>
            <LifecyclePanel apiId={apiId} api={a} />
          </Loading>
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
