import { Anchor, Badge, Button, Group, Modal, Select, Stack, Table, Text, VisuallyHidden } from '@mantine/core';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, PageControls, unwrap } from '@apim/shared';
import { useDevportal } from '../client';
import { queryKeys, type Subscription } from '../queries';
import { ConfirmDialog } from '@apim/shared';

const PAGE_SIZE = 10;

/** "PizzaShackAPI 1.0.0", or the id when the API is gone. */
function apiName(s: Subscription): string {
  return s.apiInfo ? `${s.apiInfo.name} ${s.apiInfo.version}` : (s.apiId ?? '');
}

/** Another business plan for a subscription, from those its API offers. */
export function ChangePlanDialog({ subscription, onClose }: { subscription: Subscription | undefined; onClose: () => void }) {
  const api = useDevportal();
  const queries = useQueryClient();
  const apiId = subscription?.apiId ?? '';
  const detail = useQuery({
    queryKey: ['api', apiId],
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}', { params: { path: { apiId } } })),
    enabled: apiId !== '',
  });
  const [plan, setPlan] = useState<string | null>(null);
  const change = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.PUT('/subscriptions/{subscriptionId}', {
          params: { path: { subscriptionId: subscription?.subscriptionId ?? '' } },
          body: { applicationId: subscription?.applicationId ?? '', apiId, throttlingPolicy: plan ?? '' },
        }),
      ),
    onSuccess: () => {
      void queries.invalidateQueries({ queryKey: ['subscriptions'] });
      close();
    },
  });
  const close = () => {
    setPlan(null);
    change.reset();
    onClose();
  };
  const plans = (detail.data?.tiers ?? []).map((t) => t.tierName ?? '').filter(Boolean);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (plan) change.mutate();
  };
  return (
    <Modal opened={subscription !== undefined} onClose={close} title="Change business plan" centered closeButtonProps={{ 'aria-label': 'Close' }}>
      <form onSubmit={submit} aria-label="Change business plan">
        <Stack>
          <Text size="sm">
            {subscription && apiName(subscription)}: now on <strong>{subscription?.throttlingPolicy}</strong>.
          </Text>
          {detail.isError && <ErrorNotice error={detail.error} title="Cannot load the API's plans" />}
          <Select
            label="New business plan"
            data={plans.map((p) => ({ value: p, label: p, disabled: p === subscription?.throttlingPolicy }))}
            value={plan}
            onChange={setPlan}
            disabled={detail.isPending}
            required
          />
          {change.isError && <ErrorNotice error={change.error} title="The plan was not changed" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={change.isPending} disabled={!plan}>
              Change plan
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** The "Subscriptions" tab: the APIs the application subscribes to, with plan and status. */
export function SubscriptionsPanel({ applicationId }: { applicationId: string }) {
  const api = useDevportal();
  const queries = useQueryClient();
  const [page, setPage] = useState(1);
  const subs = useQuery({
    queryKey: [...queryKeys.subscriptionsOfApp(applicationId), page],
    queryFn: async () =>
      unwrap(await api.GET('/subscriptions', { params: { query: { applicationId, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE } } })),
    placeholderData: keepPreviousData,
  });
  const [changing, setChanging] = useState<Subscription>();
  const [leaving, setLeaving] = useState<Subscription>();
  const unsubscribe = useMutation({
    mutationFn: async (subscriptionId: string) =>
      unwrap(await api.DELETE('/subscriptions/{subscriptionId}', { params: { path: { subscriptionId } } })),
    onSuccess: () => {
      setLeaving(undefined);
      void queries.invalidateQueries({ queryKey: ['subscriptions'] });
      void queries.invalidateQueries({ queryKey: queryKeys.applications() });
    },
  });
  if (subs.isPending) return <LoadingState label="Loading subscriptions" />;
  if (subs.isError) return <ErrorNotice error={subs.error} title="Cannot list subscriptions" />;
  const list = subs.data.list ?? [];
  const total = subs.data.pagination?.total ?? subs.data.count ?? 0;
  return (
    <Stack>
      {list.length ? (
        <>
          <Table.ScrollContainer minWidth={520}>
            <Table aria-label="Subscriptions" verticalSpacing="sm">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>API</Table.Th>
                  <Table.Th>Business plan</Table.Th>
                  <Table.Th>Status</Table.Th>
                  <Table.Th>
                    <VisuallyHidden>Actions</VisuallyHidden>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.map((s) => (
                  <Table.Tr key={s.subscriptionId}>
                    <Table.Td>
                      <Anchor component={Link} to={`/apis/${s.apiId}`}>
                        {apiName(s)}
                      </Anchor>
                    </Table.Td>
                    <Table.Td>{s.throttlingPolicy}</Table.Td>
                    <Table.Td>
                      <Badge variant={s.status === 'UNBLOCKED' ? 'light' : 'outline'}>
                        {s.status}
                      </Badge>
                    </Table.Td>
                    <Table.Td>
                      <Group gap="xs" wrap="nowrap">
                        <Button size="xs" variant="default" aria-label={`Change plan of ${apiName(s)}`} onClick={() => setChanging(s)}>
                          Change plan
                        </Button>
                        <Button
                          size="xs"
                          variant="subtle"
                          color="red"
                          aria-label={`Unsubscribe from ${apiName(s)}`}
                          onClick={() => {
                            unsubscribe.reset();
                            setLeaving(s);
                          }}
                        >
                          Unsubscribe
                        </Button>
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <PageControls label="Pages of subscriptions" total={total} pageSize={PAGE_SIZE} page={page} onChange={setPage} />
        </>
      ) : (
        <EmptyState title="No subscriptions yet">
          <Text size="sm">
            Open an API in the <Anchor component={Link} to="/apis" underline="always">catalogue</Anchor> and subscribe this application to it.
          </Text>
        </EmptyState>
      )}
      <ChangePlanDialog subscription={changing} onClose={() => setChanging(undefined)} />
      <ConfirmDialog
        opened={leaving !== undefined}
        title="Unsubscribe"
        confirmLabel="Unsubscribe"
        onClose={() => setLeaving(undefined)}
        onConfirm={() => leaving?.subscriptionId && unsubscribe.mutate(leaving.subscriptionId)}
        pending={unsubscribe.isPending}
        error={unsubscribe.error ?? undefined}
      >
        Unsubscribe from <strong>{leaving && apiName(leaving)}</strong>? The application's tokens stop working for this API at once.
      </ConfirmDialog>
    </Stack>
  );
}
