import { Anchor, Badge, Button, Card, Group, List, Stack, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { ErrorNotice, LoadingState, unwrap, useHasScope } from '@apim/shared';
import { usePublisher } from '../client';
import { defaultEnvironment, useSettings } from '../queries';

/** `/api-products/:productId`: what the product serves, where it is deployed, and deploy and publish in one click each. */
export function ProductPage() {
  const { productId = '' } = useParams();
  const api = usePublisher();
  const queries = useQueryClient();
  const canPublish = useHasScope('apim:api_publish');
  const settings = useSettings();
  const target = defaultEnvironment(settings.data);
  const path = { params: { path: { apiProductId: productId } } };
  const product = useQuery({
    queryKey: ['api-product', productId],
    queryFn: async () => unwrap(await api.GET('/api-products/{apiProductId}', path)),
  });
  const deployments = useQuery({
    queryKey: ['api-product', productId, 'deployments'],
    queryFn: async () => unwrap(await api.GET('/api-products/{apiProductId}/deployments', path)),
  });
  const refresh = () => queries.invalidateQueries({ queryKey: ['api-product', productId] });
  const deploy = useMutation({
    mutationFn: async () => {
      if (!target) throw new Error('no gateway environment is configured');
      const revision = unwrap(
        await api.POST('/api-products/{apiProductId}/revisions', { ...path, body: { description: 'Deployed from the Publisher' } }),
      );
      unwrap(
        await api.POST('/api-products/{apiProductId}/deploy-revision', {
          params: { path: { apiProductId: productId }, query: { revisionId: revision.id ?? '' } },
          body: [{ name: target.name, vhost: target.vhost, displayOnDevportal: true, status: 'CREATED' }],
        }),
      );
    },
    onSettled: refresh,
  });
  const publish = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST('/api-products/change-lifecycle', { params: { query: { apiProductId: productId, action: 'Publish' } } })),
    onSettled: refresh,
  });
  if (product.isPending) return <LoadingState label="Loading the API product" />;
  if (product.isError) return <ErrorNotice error={product.error} title="Cannot load the API product" />;
  const p = product.data;
  const deployed = deployments.data?.list ?? [];
  return (
    <Stack>
      <Anchor component={Link} to="/api-products" size="sm">
        ← API products
      </Anchor>
      <Group>
        <Title order={2}>{p.name}</Title>
        <Badge variant="light">{p.version}</Badge>
        <Badge aria-label="Lifecycle state">{p.state}</Badge>
      </Group>
      <Text size="sm">
        Context <code>{p.context}</code>
      </Text>
      <Card withBorder>
        <Title order={3}>Operations</Title>
        {(p.apis ?? []).map((a) => (
          <Stack key={a.apiId} gap={2} mt="sm">
            <Text fw={500}>
              {a.name} {a.version}
            </Text>
            <List aria-label={`Operations of ${a.name ?? a.apiId}`}>
              {(a.operations ?? []).map((o) => (
                <List.Item key={`${o.verb} ${o.target}`}>
                  {o.verb} {o.target}
                </List.Item>
              ))}
            </List>
          </Stack>
        ))}
      </Card>
      <Card withBorder>
        <Stack>
          <Title order={3}>Deploy and publish</Title>
          <List aria-label="Deployments">
            {deployed.length === 0 && <Text size="sm">Not deployed to any gateway yet</Text>}
            {deployed.map((d) => (
              <List.Item key={`${d.name ?? ''}-${d.revisionUuid ?? ''}`}>
                {d.name} ({d.vhost})
              </List.Item>
            ))}
          </List>
          {deploy.isError && <ErrorNotice error={deploy.error} title="Not deployed" />}
          {publish.isError && <ErrorNotice error={publish.error} title="Not published" />}
          {canPublish && (
            <Group>
              <Button onClick={() => deploy.mutate()} loading={deploy.isPending} disabled={!target}>
                Deploy new revision to {target?.name ?? 'a gateway'}
              </Button>
              <Button variant="light" onClick={() => publish.mutate()} loading={publish.isPending} disabled={p.state === 'PUBLISHED'}>
                Publish
              </Button>
            </Group>
          )}
        </Stack>
      </Card>
    </Stack>
  );
}
