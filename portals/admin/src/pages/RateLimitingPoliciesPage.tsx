import { Button, Group, Stack, Table, Tabs, Text, Title, VisuallyHidden } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, unwrap } from '@apim/shared';
import { DeleteButton, useAskBeforeDelete } from '../components/AskBeforeDelete';
import { useAdmin } from '../client';

export const LEVELS = {
  advanced: 'Advanced',
  application: 'Application',
  subscription: 'Subscription',
} as const;
export type Level = keyof typeof LEVELS;

/** The fields every policy level shares, as this page shows them. */
interface PolicyRow {
  policyId?: string;
  policyName?: string;
  displayName?: string;
  description?: string;
  defaultLimit?: Limit;
}

interface Limit {
  type?: string;
  requestCount?: { requestCount?: number; timeUnit?: string; unitTime?: number };
  bandwidth?: { dataAmount?: number; dataUnit?: string; timeUnit?: string; unitTime?: number };
  eventCount?: { eventCount?: number; timeUnit?: string; unitTime?: number };
}

/** "20 requests per 1 min", "1 GB per 1 hour"… */
export function limitText(l: Limit | undefined): string {
  if (!l) return '—';
  const per = (unit?: number, timeUnit?: string) => `per ${unit ?? 1} ${timeUnit ?? ''}`.trim();
  if (l.requestCount) return `${l.requestCount.requestCount} requests ${per(l.requestCount.unitTime, l.requestCount.timeUnit)}`;
  if (l.bandwidth) return `${l.bandwidth.dataAmount} ${l.bandwidth.dataUnit ?? ''} ${per(l.bandwidth.unitTime, l.bandwidth.timeUnit)}`;
  if (l.eventCount) return `${l.eventCount.eventCount} events ${per(l.eventCount.unitTime, l.eventCount.timeUnit)}`;
  return l.type ?? '—';
}

function usePolicies(level: Level) {
  const api = useAdmin();
  return useQuery({
    queryKey: ['policies', level],
    queryFn: async (): Promise<PolicyRow[]> => {
      switch (level) {
        case 'advanced':
          return (unwrap(await api.GET('/throttling/policies/advanced')).list ?? []) as PolicyRow[];
        case 'application':
          return (unwrap(await api.GET('/throttling/policies/application')).list ?? []) as PolicyRow[];
        case 'subscription':
          return (unwrap(await api.GET('/throttling/policies/subscription')).list ?? []) as PolicyRow[];
      }
    },
  });
}

function PolicyTable({ level }: { level: Level }) {
  const api = useAdmin();
  const queries = useQueryClient();
  const policies = usePolicies(level);
  const shown = (p: PolicyRow) => p.displayName ?? p.policyName ?? '';
  const deletion = useAskBeforeDelete<PolicyRow>({
    title: 'Delete policy',
    question: (p) => `Delete the policy ${shown(p)}? Gateways stop applying it; the server refuses while an API or application uses it.`,
    remove: async (p) => {
      const path = { params: { path: { policyId: p.policyId ?? '' } } };
      switch (level) {
        case 'advanced':
          return unwrap(await api.DELETE('/throttling/policies/advanced/{policyId}', path));
        case 'application':
          return unwrap(await api.DELETE('/throttling/policies/application/{policyId}', path));
        case 'subscription':
          return unwrap(await api.DELETE('/throttling/policies/subscription/{policyId}', path));
      }
    },
    onDeleted: () => queries.invalidateQueries({ queryKey: ['policies', level] }),
  });
  if (policies.isPending) return <LoadingState label="Loading policies" />;
  if (policies.isError) return <ErrorNotice error={policies.error} title="Cannot list policies" />;
  if (!policies.data.length) return <EmptyState title={`No ${LEVELS[level].toLowerCase()} policies`} />;
  return (
    <>
      <Table striped aria-label={`${LEVELS[level]} policies`}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Quota</Table.Th>
            <Table.Th>Description</Table.Th>
            <Table.Th>
              <VisuallyHidden>Actions</VisuallyHidden>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {policies.data.map((p) => (
            <Table.Tr key={p.policyId ?? p.policyName}>
              <Table.Td>{shown(p)}</Table.Td>
              <Table.Td>{limitText(p.defaultLimit)}</Table.Td>
              <Table.Td>
                <Text size="sm">{p.description}</Text>
              </Table.Td>
              <Table.Td>
                <DeleteButton label={`Delete ${shown(p)}`} onClick={() => deletion.ask(p)} />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {deletion.dialog}
    </>
  );
}

/** `/throttling/:level`: the rate-limiting policies of one level, a tab each. */
export function RateLimitingPoliciesPage() {
  const navigate = useNavigate();
  const { level: raw = 'advanced' } = useParams();
  const level: Level = raw in LEVELS ? (raw as Level) : 'advanced';
  const levels = Object.keys(LEVELS) as Level[];
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Rate limiting policies</Title>
        <Button component={Link} to={`/throttling/${level}/add`}>
          Add {LEVELS[level].toLowerCase()} policy
        </Button>
      </Group>
      <Tabs value={level} onChange={(v) => v && navigate(`/throttling/${v}`)}>
        <Tabs.List aria-label="Policy levels">
          {levels.map((k) => (
            <Tabs.Tab key={k} value={k}>
              {LEVELS[k]}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        {levels.map((k) => (
          <Tabs.Panel key={k} value={k} pt="md">
            {k === level && <PolicyTable level={k} />}
          </Tabs.Panel>
        ))}
      </Tabs>
    </Stack>
  );
}
