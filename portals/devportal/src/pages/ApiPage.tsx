import { Anchor, Badge, Card, Code, Group, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, unwrap } from '@apim/shared';
import { useDevportal } from '../client';
import { DocumentsCard } from '../components/DocumentsCard';
import { SubscribeCard } from '../components/SubscribeCard';
import { TryItCard } from '../components/TryItCard';

/** `/apis/:apiId`: what the API does, where to call it (per gateway environment), and subscribing to it. */
export function ApiPage() {
  const { apiId = '' } = useParams();
  const api = useDevportal();
  const detail = useQuery({
    queryKey: ['api', apiId],
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}', { params: { path: { apiId } } })),
  });
  if (detail.isPending) return <LoadingState label="Loading the API" />;
  if (detail.isError) return <ErrorNotice error={detail.error} title="Cannot load the API" />;
  const a = detail.data;
  const endpoints = a.endpointURLs ?? [];
  return (
    <Stack>
      <Anchor component={Link} to="/apis" size="sm">
        ← APIs
      </Anchor>
      <Group>
        <Title order={2}>{a.name}</Title>
        <Badge variant="light">{a.version}</Badge>
      </Group>
      {a.description && <Text>{a.description}</Text>}
      <Text size="sm" c="dimmed">
        Context <Code>{a.context}</Code> · provided by {a.provider}
      </Text>
      <Card withBorder>
        <Stack>
          <Title order={3}>Endpoints</Title>
          {endpoints.length ? (
            <Table aria-label="Endpoints">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Gateway environment</Table.Th>
                  <Table.Th>HTTPS</Table.Th>
                  <Table.Th>HTTP</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {endpoints.map((e) => (
                  <Table.Tr key={e.environmentName}>
                    <Table.Td>{e.environmentDisplayName ?? e.environmentName}</Table.Td>
                    <Table.Td>
                      <Code>{e.URLs?.https}</Code>
                    </Table.Td>
                    <Table.Td>
                      <Code>{e.URLs?.http}</Code>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          ) : (
            <EmptyState title="Not deployed to a gateway yet" />
          )}
        </Stack>
      </Card>
      <SubscribeCard apiId={apiId} plans={(a.tiers ?? []).map((t) => t.tierName ?? '').filter(Boolean)} />
      <TryItCard api={a} />
      <DocumentsCard apiId={apiId} />
    </Stack>
  );
}
