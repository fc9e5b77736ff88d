import { Anchor, Badge, Group, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import type { ReactNode } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, unwrap, type PlatformComponents } from '@apim/shared';
import { SyncBadge, usePlatform, When } from './GatewayNodesPage';

type ServedRevision = PlatformComponents['schemas']['ServedRevision'];

const STATUS: Record<ServedRevision['status'], { label: string; color: string }> = {
  CURRENT: { label: 'Current', color: 'teal.9' },
  PENDING: { label: 'Deployed, not served yet', color: 'orange.4' },
  OUTDATED: { label: 'An older revision', color: 'yellow.4' },
  UNDEPLOYED: { label: 'Undeployed, still served', color: 'red.9' },
};

function Figure({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text fw={500}>{children}</Text>
    </div>
  );
}

/** `/gateway-nodes/:gatewayId`: one node, each API revision it serves or should serve. */
export function GatewayNodePage() {
  const { gatewayId = '' } = useParams();
  const api = usePlatform();
  const node = useQuery({
    queryKey: ['gateway-nodes', gatewayId],
    refetchInterval: 5_000,
    queryFn: async () => unwrap(await api.GET('/admin/v4/gateway-nodes/{gatewayId}', { params: { path: { gatewayId } } })),
  });
  return (
    <Stack>
      <Anchor component={Link} to="/gateway-nodes" size="sm">
        ← Gateway nodes
      </Anchor>
      <Title order={2}>{gatewayId}</Title>
      {node.isPending && <LoadingState label="Loading the gateway node" />}
      {node.isError && <ErrorNotice error={node.error} title="Cannot load the gateway node" />}
      {node.data && (
        <>
          <Group>
            <SyncBadge node={node.data} />
          </Group>
          <SimpleGrid cols={{ base: 2, sm: 4 }}>
            <Figure label="Environments">{node.data.labels.join(', ')}</Figure>
            <Figure label="Event position">
              {node.data.appliedSequence == null ? '—' : `${node.data.appliedSequence} of ${node.data.latestSequence}`}
            </Figure>
            <Figure label="Last seen">
              <When at={node.data.lastSeen} />
            </Figure>
            <Figure label="Version">{node.data.version ?? '—'}</Figure>
          </SimpleGrid>
          {node.data.revisions.length === 0 ? (
            <EmptyState title="Nothing is deployed to this node's environments" />
          ) : (
            <Table.ScrollContainer minWidth={600}>
              <Table striped aria-label="API revisions">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>API</Table.Th>
                    <Table.Th>Environment</Table.Th>
                    <Table.Th>Revision</Table.Th>
                    <Table.Th>State</Table.Th>
                    <Table.Th>Served since</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {node.data.revisions.map((r) => (
                    <Table.Tr key={`${r.apiId}/${r.environment}/${r.revisionId}`}>
                      <Table.Td>
                        {r.apiName || r.apiId} {r.apiVersion}
                      </Table.Td>
                      <Table.Td>{r.environment}</Table.Td>
                      <Table.Td>
                        <Text size="sm" ff="monospace">
                          {r.revisionId.slice(0, 8)}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Badge color={STATUS[r.status].color} variant="filled">
                          {STATUS[r.status].label}
                        </Badge>
                      </Table.Td>
                      <Table.Td>{r.since ? <When at={r.since} /> : '—'}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )}
        </>
      )}
    </Stack>
  );
}
