import { Anchor, Badge, Button, Card, Group, List, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, unwrap, useHasScope, type PublisherComponents } from '@apim/shared';
import { usePublisher } from '../client';

type Settings = PublisherComponents['schemas']['Settings'];

/** The environment a one-click deployment goes to: `Default` when there is one, else the first. */
export function defaultEnvironment(settings: Settings | undefined): { name: string; vhost?: string } | undefined {
  const envs = settings?.environment ?? [];
  const env = envs.find((e) => e.name === 'Default') ?? envs[0];
  if (!env) return undefined;
  return { name: env.name, vhost: env.vhosts?.[0]?.host };
}

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text component="div">{children}</Text>
    </div>
  );
}

/** `/apis/:apiId`: what the API is, where it is deployed, and the deploy and publish steps. */
export function ApiOverviewPage() {
  const { apiId = '' } = useParams();
  const api = usePublisher();
  const queries = useQueryClient();
  const canPublish = useHasScope('apim:api_publish');
  const canCreate = useHasScope('apim:api_create');
  const canDeploy = canPublish || canCreate;
  const detail = useQuery({
    queryKey: ['api', apiId],
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}', { params: { path: { apiId } } })),
  });
  const deployments = useQuery({
    queryKey: ['api', apiId, 'deployments'],
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}/deployments', { params: { path: { apiId } } })),
  });
  const settings = useQuery({
    queryKey: ['settings'],
    queryFn: async () => unwrap(await api.GET('/settings')),
  });
  const target = defaultEnvironment(settings.data);
  const refresh = () => queries.invalidateQueries({ queryKey: ['api', apiId] });
  const deploy = useMutation({
    mutationFn: async () => {
      if (!target) throw new Error('no gateway environment is configured');
      const revision = unwrap(
        await api.POST('/apis/{apiId}/revisions', { params: { path: { apiId } }, body: { description: 'Deployed from the Publisher' } }),
      );
      unwrap(
        await api.POST('/apis/{apiId}/deploy-revision', {
          params: { path: { apiId }, query: { revisionId: revision.id ?? '' } },
          body: [{ name: target.name, vhost: target.vhost, displayOnDevportal: true, status: 'CREATED' }],
        }),
      );
    },
    onSettled: refresh,
  });
  const publish = useMutation({
    mutationFn: async () => unwrap(await api.POST('/apis/change-lifecycle', { params: { query: { apiId, action: 'Publish' } } })),
    onSettled: refresh,
  });
  if (detail.isPending) return <LoadingState label="Loading the API" />;
  if (detail.isError) return <ErrorNotice error={detail.error} title="Cannot load the API" />;
  const a = detail.data;
  const deployed = deployments.data?.list ?? [];
  const state = a.lifeCycleStatus ?? '';
  return (
    <Stack>
      <Anchor component={Link} to="/apis" size="sm">
        ← APIs
      </Anchor>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>{a.name}</Title>
          <Text c="dimmed">{a.description}</Text>
        </div>
        <Badge size="lg" variant="light" aria-label="Lifecycle state">
          {state}
        </Badge>
      </Group>
      <Card withBorder>
        <SimpleGrid cols={{ base: 1, sm: 4 }}>
          <Fact label="Context">{a.context}</Fact>
          <Fact label="Version">{a.version}</Fact>
          <Fact label="Provider">{a.provider}</Fact>
          <Fact label="Lifecycle state">{state}</Fact>
        </SimpleGrid>
      </Card>
      <Card withBorder>
        <Stack>
          <Title order={3}>Deployments</Title>
          {deployments.isPending ? (
            <LoadingState label="Loading deployments" />
          ) : deployments.isError ? (
            <ErrorNotice error={deployments.error} title="Cannot list deployments" />
          ) : deployed.length ? (
            <List aria-label="Deployments">
              {deployed.map((d) => (
                <List.Item key={`${d.name}-${d.revisionUuid}`}>
                  {d.name} {d.vhost ? `(${d.vhost})` : ''} — revision {d.revisionUuid}
                </List.Item>
              ))}
            </List>
          ) : (
            <EmptyState title="Not deployed to any gateway yet" />
          )}
          {deploy.isError && <ErrorNotice error={deploy.error} title="Not deployed" />}
          {canDeploy && (
            <Group>
              <Button onClick={() => deploy.mutate()} loading={deploy.isPending} disabled={!target}>
                Deploy new revision to {target?.name ?? 'a gateway'}
              </Button>
            </Group>
          )}
        </Stack>
      </Card>
      <Card withBorder>
        <Stack>
          <Title order={3}>Publish</Title>
          <Text size="sm">
            {state === 'PUBLISHED'
              ? 'Published: the API is in the Developer Portal.'
              : 'Publishing lists the API in the Developer Portal, where applications subscribe to it.'}
          </Text>
          {publish.isError && <ErrorNotice error={publish.error} title="Not published" />}
          {canPublish && state !== 'PUBLISHED' && (
            <Group>
              <Button onClick={() => publish.mutate()} loading={publish.isPending} color="green">
                Publish
              </Button>
            </Group>
          )}
        </Stack>
      </Card>
    </Stack>
  );
}
