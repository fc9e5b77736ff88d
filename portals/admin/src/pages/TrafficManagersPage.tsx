import { Badge, Group, Paper, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { ListStates, unwrap, type PlatformComponents } from '@apim/shared';
import { usePlatform, When } from './GatewayNodesPage';

type TrafficManager = PlatformComponents['schemas']['TrafficManager'];
type ThrottleDecision = PlatformComponents['schemas']['ThrottleDecision'];

/** "1 throttle key counted", "2,000 throttle keys counted". */
const counted = (n: number, what: string, how: string) => `${n.toLocaleString('en')} ${what}${n === 1 ? '' : 's'} ${how}`;

/** "10:42:00 UTC". */
const until = (iso: string) => new Date(iso).toLocaleTimeString('en-GB', { timeZone: 'UTC' }) + ' UTC';

function DecisionRow({ d }: { d: ThrottleDecision }) {
  return (
    <Table.Tr>
      <Table.Td>
        {d.application && <Text size="sm">{`${d.application.name} (${d.application.owner})`}</Text>}
        <Text size="xs" ff="monospace" style={{ wordBreak: 'break-all' }}>
          {d.key}
        </Text>
      </Table.Td>
      <Table.Td>{d.condition}</Table.Td>
      <Table.Td>{d.quota != null ? `${(d.used ?? 0).toLocaleString('en')} of ${d.quota.toLocaleString('en')}` : 'Decided by a peer'}</Table.Td>
      <Table.Td>{until(d.throttledUntil)}</Table.Td>
    </Table.Tr>
  );
}

/** One traffic manager: what it counts, and the keys it has throttled until their window ends. */
function TrafficManagerCard({ tm }: { tm: TrafficManager }) {
  return (
    <Paper withBorder p="md" radius="md" aria-label={`Traffic manager ${tm.nodeId}`} component="section">
      <Group justify="space-between" mb="sm">
        <Title order={3} size="h4">
          {tm.nodeId}
        </Title>
        <Text size="sm" c="dimmed">
          Version {tm.version} · last seen <When at={tm.lastSeen} />
        </Text>
      </Group>
      <SimpleGrid cols={{ base: 1, sm: 3 }} mb="sm">
        <Text size="sm">{`${tm.gateways} gateway${tm.gateways === 1 ? '' : 's'} reporting usage`}</Text>
        <Text size="sm">{counted(tm.keys, 'throttle key', 'counted')}</Text>
        <Text size="sm">{counted(tm.decisionsMade, 'decision', 'made since start')}</Text>
      </SimpleGrid>
      {tm.inForce.length === 0 ? (
        <Badge color="teal.9" variant="filled">
          Nothing throttled
        </Badge>
      ) : (
        <>
          <Text size="sm" fw={600} mb={4}>
            {`${tm.inForceTotal} decision${tm.inForceTotal === 1 ? '' : 's'} in force`}
            {tm.inForceTotal > tm.inForce.length ? ` (the ${tm.inForce.length} ending last shown)` : ''}
          </Text>
          <Table.ScrollContainer minWidth={640}>
            <Table striped aria-label={`Decisions of ${tm.nodeId}`}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Application and throttle key</Table.Th>
                  <Table.Th>Level</Table.Th>
                  <Table.Th>Used of quota</Table.Th>
                  <Table.Th>Throttled until</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {tm.inForce.map((d) => (
                  <DecisionRow key={`${d.key} ${d.forwarded}`} d={d} />
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </>
      )}
    </Paper>
  );
}

/** `/traffic-managers`: each traffic manager heard from in the last 5 minutes and the throttle decisions it
 * holds in force. Refreshed every 3 seconds, as often as they report. */
export function TrafficManagersPage() {
  const api = usePlatform();
  const nodes = useQuery({
    queryKey: ['traffic-managers'],
    refetchInterval: 3_000,
    queryFn: async () => unwrap(await api.GET('/admin/v4/traffic-managers')).list,
  });
  return (
    <Stack>
      <Title order={2}>Traffic managers</Title>
      <Text size="sm" c="dimmed">
        Traffic managers add up what every gateway admits per throttle key and tell the gateways which keys to refuse until their window ends. A
        gateway with none configured (as in an all-in-one) counts on its own and is not listed here.
      </Text>
      <ListStates
        query={nodes}
        loading="Loading traffic managers"
        failed="Cannot list traffic managers"
        empty="No traffic manager has reported in the last 5 minutes"
      >
        {(items) => (
          <Stack>
            {items.map((tm) => (
              <TrafficManagerCard key={tm.nodeId} tm={tm} />
            ))}
          </Stack>
        )}
      </ListStates>
    </Stack>
  );
}
