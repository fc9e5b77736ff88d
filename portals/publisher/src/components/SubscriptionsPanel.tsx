import { Badge, Button, Group, Menu, Table, Text } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { EmptyState, ErrorNotice, LoadingState, unwrap, useHasScope, type PublisherComponents } from '@apim/shared';
import { usePublisher } from '../client';
import { queryKeys } from '../queries';

type Subscription = PublisherComponents['schemas']['Subscription'];
type Status = Subscription['subscriptionStatus'];

/** What a status means to the publisher, and whether the subscriber's calls pass. */
export const STATUS: Record<Status, { label: string; color: string }> = {
  UNBLOCKED: { label: 'Active', color: 'teal.9' },
  BLOCKED: { label: 'Blocked', color: 'red.9' },
  PROD_ONLY_BLOCKED: { label: 'Production blocked', color: 'orange.4' },
  ON_HOLD: { label: 'Awaiting approval', color: 'yellow.4' },
  REJECTED: { label: 'Rejected', color: 'red.9' },
  TIER_UPDATE_PENDING: { label: 'Plan change pending', color: 'yellow.4' },
  DELETE_PENDING: { label: 'Removal pending', color: 'yellow.4' },
};

/**
 * The "Subscriptions" tab: the applications subscribed to the API, each with its owner, plan and state; a
 * publisher blocks one (all calls, or production keys only) and unblocks it. The gateways apply it within moments.
 */
export function SubscriptionsPanel({ apiId }: { apiId: string }) {
  const api = usePublisher();
  const queries = useQueryClient();
  const canBlock = useHasScope('apim:subscription_block');
  const canPublish = useHasScope('apim:api_publish');
  const canManage = canBlock || canPublish;
  const key = [...queryKeys.api(apiId), 'subscriptions'];
  const list = useQuery({
    queryKey: key,
    queryFn: async () => unwrap(await api.GET('/subscriptions', { params: { query: { apiId, limit: 100 } } })).list ?? [],
  });
  const change = useMutation({
    mutationFn: async ({ s, to }: { s: Subscription; to: 'BLOCKED' | 'PROD_ONLY_BLOCKED' | 'UNBLOCKED' }) => {
      const subscriptionId = s.subscriptionId;
      if (to === 'UNBLOCKED') return unwrap(await api.POST('/subscriptions/unblock-subscription', { params: { query: { subscriptionId } } }));
      return unwrap(await api.POST('/subscriptions/block-subscription', { params: { query: { subscriptionId, blockState: to } } }));
    },
    onSuccess: () => queries.invalidateQueries({ queryKey: key }),
  });
  if (list.isPending) return <LoadingState label="Loading subscriptions" />;
  if (list.isError) return <ErrorNotice error={list.error} title="Cannot list subscriptions" />;
  if (list.data.length === 0) return <EmptyState title="No application subscribes to this API yet" />;
  return (
    <>
      {change.isError && <ErrorNotice error={change.error} title="The subscription was not changed" />}
      <Table.ScrollContainer minWidth={600}>
        <Table striped aria-label="Subscriptions">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Application</Table.Th>
              <Table.Th>Owner</Table.Th>
              <Table.Th>Plan</Table.Th>
              <Table.Th>State</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {list.data.map((s) => {
              const app = s.applicationInfo.name ?? s.applicationInfo.applicationId ?? '';
              const status = STATUS[s.subscriptionStatus];
              const blocked = s.subscriptionStatus === 'BLOCKED' || s.subscriptionStatus === 'PROD_ONLY_BLOCKED';
              const busy = change.isPending && change.variables?.s.subscriptionId === s.subscriptionId;
              return (
                <Table.Tr key={s.subscriptionId}>
                  <Table.Td>{app}</Table.Td>
                  <Table.Td>{s.applicationInfo.subscriber ?? '—'}</Table.Td>
                  <Table.Td>{s.throttlingPolicy}</Table.Td>
                  <Table.Td>
                    <Badge color={status.color} variant="filled" aria-label={`State of ${app}`}>
                      {status.label}
                    </Badge>
                  </Table.Td>
                  <Table.Td>
                    {canManage && (
                      <Group gap="xs" justify="flex-end" wrap="nowrap">
                        {blocked ? (
                          <Button size="xs" variant="default" loading={busy} onClick={() => change.mutate({ s, to: 'UNBLOCKED' })}>
                            Unblock {app}
                          </Button>
                        ) : (
                          <Menu position="bottom-end">
                            <Menu.Target>
                              <Button size="xs" variant="default" color="red" loading={busy}>
                                Block {app}
                              </Button>
                            </Menu.Target>
                            <Menu.Dropdown>
                              <Menu.Item onClick={() => change.mutate({ s, to: 'BLOCKED' })}>All calls</Menu.Item>
                              <Menu.Item onClick={() => change.mutate({ s, to: 'PROD_ONLY_BLOCKED' })}>Production keys only</Menu.Item>
                            </Menu.Dropdown>
                          </Menu>
                        )}
                      </Group>
                    )}
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <Text size="sm" c="dimmed" mt="xs">
        A blocked subscription's calls are refused at the gateways (403 900907) until it is unblocked.
      </Text>
    </>
  );
}
