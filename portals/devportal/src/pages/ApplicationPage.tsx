import { Anchor, Badge, Button, Group, Stack, Tabs, Text, Title } from '@mantine/core';
import { Link, useNavigate, useParams } from 'react-router';
import { AnalyticsPanel, ErrorNotice, LoadingState } from '@apim/shared';
import { ApiKeysPanel } from '../components/ApiKeysPanel';
import { KeysPanel } from '../components/KeysPanel';
import { QuotaPanel } from '../components/QuotaPanel';
import { SubscriptionsPanel } from '../components/SubscriptionsPanel';
import { useApplication } from '../queries';
import { useConsumerSecrets } from '../secrets';

const TABS = {
  'production-keys': 'Production keys',
  'sandbox-keys': 'Sandbox keys',
  'api-keys': 'API keys',
  subscriptions: 'Subscriptions',
  usage: 'Usage',
} as const;
type Tab = keyof typeof TABS;

/** `/applications/:applicationId/:tab`: an application's keys (production, sandbox), API keys, subscriptions and usage. */
export function ApplicationPage() {
  const { applicationId = '', tab: raw = 'production-keys' } = useParams();
  const navigate = useNavigate();
  const tab: Tab = raw in TABS ? (raw as Tab) : 'production-keys';
  const app = useApplication(applicationId);
  const [secrets, remember] = useConsumerSecrets();
  if (app.isPending) return <LoadingState label="Loading the application" />;
  if (app.isError) return <ErrorNotice error={app.error} title="Cannot load the application" />;
  const a = app.data;
  return (
    <Stack>
      <Anchor component={Link} to="/applications" size="sm">
        ← Applications
      </Anchor>
      <Group justify="space-between">
        <Group gap="sm">
          <Title order={2}>{a.name}</Title>
          <Badge variant="light" aria-label="Rate-limiting plan">
            {a.throttlingPolicy}
          </Badge>
        </Group>
        <Button variant="default" component={Link} to={`/applications/${applicationId}/edit`}>
          Edit
        </Button>
      </Group>
      {a.description && <Text>{a.description}</Text>}
      <Tabs value={tab} onChange={(v) => v && navigate(`/applications/${applicationId}/${v}`)}>
        <Tabs.List aria-label="Application">
          {(Object.keys(TABS) as Tab[]).map((k) => (
            <Tabs.Tab key={k} value={k}>
              {TABS[k]}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        <Tabs.Panel value="production-keys" pt="md">
          {tab === 'production-keys' && <KeysPanel applicationId={applicationId} keyType="PRODUCTION" secrets={secrets} onSecret={remember} />}
        </Tabs.Panel>
        <Tabs.Panel value="sandbox-keys" pt="md">
          {tab === 'sandbox-keys' && <KeysPanel applicationId={applicationId} keyType="SANDBOX" secrets={secrets} onSecret={remember} />}
        </Tabs.Panel>
        <Tabs.Panel value="api-keys" pt="md">
          {tab === 'api-keys' && <ApiKeysPanel applicationId={applicationId} />}
        </Tabs.Panel>
        <Tabs.Panel value="subscriptions" pt="md">
          {tab === 'subscriptions' && <SubscriptionsPanel applicationId={applicationId} />}
        </Tabs.Panel>
        <Tabs.Panel value="usage" pt="md">
          {tab === 'usage' && (
            <Stack>
              <QuotaPanel applicationId={applicationId} />
              <AnalyticsPanel scope={{ application: applicationId }} />
            </Stack>
          )}
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
