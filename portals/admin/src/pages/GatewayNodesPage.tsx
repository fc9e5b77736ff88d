import { Anchor, Badge, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { Link } from 'react-router';
import { ListStates, platformClient, unwrap, useSession, type PlatformComponents } from '@apim/shared';

export type GatewayNode = PlatformComponents['schemas']['GatewayNode'];

/** The apim-rs operations client (gateway nodes are not in WSO2's Admin API). */
export function usePlatform() {
  const session = useSession();
  return useMemo(() => platformClient(session), [session]);
}

/** "In sync", or what the node still lacks: deployments not served yet, or events not applied yet. */
export function SyncBadge({ node }: { node: GatewayNode }) {
  if (node.pendingRevisions > 0) {
    return (
      <Badge color="orange.4" variant="filled">
        {node.pendingRevisions} deployment{node.pendingRevisions === 1 ? '' : 's'} pending
      </Badge>
    );
  }
  if (!node.inSync) {
    return (
      <Badge color="orange.4" variant="filled">
        Serves undeployed revisions
      </Badge>
    );
  }
  if ((node.eventsBehind ?? 0) > 0) {
    return (
      <Badge color="yellow.4" variant="filled">
        {node.eventsBehind} event{node.eventsBehind === 1 ? '' : 's'} behind
      </Badge>
    );
  }
  return (
    <Badge color="teal.9" variant="filled">
      In sync
    </Badge>
  );
}

/** When, in the reader's own time zone and words. */
export function When({ at }: { at: string }) {
  const t = new Date(at);
  const ago = Math.max(0, Math.round((Date.now() - t.getTime()) / 1000));
  return <time dateTime={at} title={t.toLocaleString()}>{ago < 60 ? `${ago} s ago` : `${Math.round(ago / 60)} min ago`}</time>;
}

/** `/gateway-nodes`: every gateway node that reported to the event hub in the last 5 minutes, and whether it
 * serves what is deployed to its environments. Refreshed every 5 seconds. */
export function GatewayNodesPage() {
  const api = usePlatform();
  const nodes = useQuery({
    queryKey: ['gateway-nodes'],
    refetchInterval: 5_000,
    queryFn: async () => unwrap(await api.GET('/admin/v4/gateway-nodes')).list,
  });
  return (
    <Stack>
      <Title order={2}>Gateway nodes</Title>
      <Text size="sm" c="dimmed">
        Each gateway node reports the API revisions it serves and the event-log position its state reflects. A node silent for 5 minutes leaves
        the list.
      </Text>
      <ListStates query={nodes} loading="Loading gateway nodes" failed="Cannot list gateway nodes" empty="No gateway node has reported in the last 5 minutes">
        {(items) => (
          <Table.ScrollContainer minWidth={760}>
            <Table striped aria-label="Gateway nodes">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Node</Table.Th>
                  <Table.Th>Environments</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th>Revisions served</Table.Th>
                  <Table.Th>Event position</Table.Th>
                  <Table.Th>Last seen</Table.Th>
                  <Table.Th>Version</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((n) => (
                  <Table.Tr key={n.gatewayId}>
                    <Table.Td>
                      <Anchor component={Link} to={`/gateway-nodes/${encodeURIComponent(n.gatewayId)}`}>
                        {n.gatewayId}
                      </Anchor>
                    </Table.Td>
                    <Table.Td>{n.labels.join(', ')}</Table.Td>
                    <Table.Td>
                      <SyncBadge node={n} />
                    </Table.Td>
                    <Table.Td>
                      {n.servedRevisions} of {n.deployedRevisions}
                    </Table.Td>
                    <Table.Td>{n.appliedSequence == null ? '—' : `${n.appliedSequence} of ${n.latestSequence}`}</Table.Td>
                    <Table.Td>
                      <When at={n.lastSeen} />
                    </Table.Td>
                    <Table.Td>{n.version ?? '—'}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </ListStates>
    </Stack>
  );
}
