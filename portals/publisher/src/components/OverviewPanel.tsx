import { Anchor, Button, Card, Group, List, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, unwrap, useHasScope } from '@apim/shared';
import { usePublisher, type Api } from '../client';
import { defaultEnvironment, queryKeys, useDeployments, useSettings } from '../queries';

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

/** The overview tab: what the API is, where it is deployed, and the deploy and publish steps in one click each. */
export function OverviewPanel({ apiId, api: a }: { apiId: string; api: Api }) {
  const api = usePublisher();
  const queries = useQueryClient();
  const canPublish = useHasScope('apim:api_publish');
  const canCreate = useHasScope('apim:api_create');
  const canDeploy = canPublish || canCreate;
  const deployments = useDeployments(apiId);
  const settings = useSettings();
  const target = defaultEnvironment(settings.data);
  const refresh = () => queries.invalidateQueries({ queryKey: queryKeys.api(apiId) });
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
  const deployed = deployments.data ?? [];
  const state = a.lifeCycleStatus ?? '';
  const production = (a.endpointConfig as { production_endpoints?: { url?: string } } | undefined)?.production_endpoints?.url;
  return (
    <Stack>
      {a.description && <Text>{a.description}</Text>}
      <Card withBorder>
        <SimpleGrid cols={{ base: 1, sm: 4 }}>
          <Fact label="Context">{a.context}</Fact>
          <Fact label="Version">{a.version}</Fact>
          <Fact label="Provider">{a.provider}</Fact>
          <Fact label="Production endpoint">
            <Anchor component={Link} to={`/apis/${apiId}/endpoints`}>
              {production || 'None yet'}
            </Anchor>
          </Fact>
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
          <Group>
            {canDeploy && (
              <Button onClick={() => deploy.mutate()} loading={deploy.isPending} disabled={!target}>
                Deploy new revision to {target?.name ?? 'a gateway'}
              </Button>
            )}
            <Anchor component={Link} to={`/apis/${apiId}/deployments`}>
              Revisions and deployments
            </Anchor>
          </Group>
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
          <Group>
            {canPublish && state !== 'PUBLISHED' && (
              <Button onClick={() => publish.mutate()} loading={publish.isPending}>
                Publish
              </Button>
            )}
            <Anchor component={Link} to={`/apis/${apiId}/lifecycle`}>
              Lifecycle
            </Anchor>
          </Group>
        </Stack>
      </Card>
    </Stack>
  );
}
