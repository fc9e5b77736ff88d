import { Anchor, Badge, Button, Card, Checkbox, Group, List, Stack, Table, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, unwrap, useHasScope } from '@apim/shared';
import { usePublisher, type Api } from '../client';
import { LifecycleDiagram } from './LifecycleDiagram';
import { queryKeys, useDeployments, when } from '../queries';

type Action = 'Publish' | 'Deploy as a Prototype' | 'Demote to Created' | 'Block' | 'Deprecate' | 'Re-Publish' | 'Retire';

/** WSO2's words for what each transition does, shown beside its button. */
const MEANING: Record<string, string> = {
  Publish: 'lists the API in the Developer Portal, where applications subscribe to it',
  'Deploy as a Prototype': 'lists the API for trying out, without subscriptions',
  'Demote to Created': 'takes the API out of the Developer Portal',
  Block: 'stops every call to the API until it is re-published',
  Deprecate: 'keeps existing subscriptions working but takes no new ones',
  'Re-Publish': 'lets calls through again',
  Retire: 'takes the API out of the Developer Portal and the gateways for good',
};

/** What a state needs before it can be left for Published or Prototyped (WSO2's lifecycle "requirements"). */
function Requirements({ apiId, api }: { apiId: string; api: Api }) {
  const deployments = useDeployments(apiId);
  const endpoint = (api.endpointConfig as { production_endpoints?: { url?: string } } | undefined)?.production_endpoints?.url;
  const items = [
    { ok: (deployments.data?.length ?? 0) > 0, text: 'Deployed to a gateway environment', to: 'deployments' },
    { ok: Boolean(endpoint), text: 'Production endpoint given', to: 'endpoints' },
    { ok: (api.policies?.length ?? 0) > 0, text: 'Business plan selected', to: '' },
  ];
  return (
    <List aria-label="Requirements" spacing={4}>
      {items.map((i) => (
        <List.Item key={i.text} icon={<Text span aria-hidden>{i.ok ? '✓' : '○'}</Text>}>
          {i.to && !i.ok ? (
            <Anchor component={Link} to={`/apis/${apiId}/${i.to}`} underline="always">
              {i.text}
            </Anchor>
          ) : (
            i.text
          )}
          <Text span c="dimmed" size="sm">
            {i.ok ? ' — done' : ' — not yet'}
          </Text>
        </List.Item>
      ))}
    </List>
  );
}

/** The "Lifecycle" tab: the current state, WSO2's transitions from it (with its checklist), and the history. */
export function LifecyclePanel({ apiId, api: a }: { apiId: string; api: Api }) {
  const api = usePublisher();
  const queries = useQueryClient();
  const canPublish = useHasScope('apim:api_publish');
  const state = useQuery({
    queryKey: queryKeys.lifecycle(apiId),
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}/lifecycle-state', { params: { path: { apiId } } })),
  });
  const history = useQuery({
    queryKey: queryKeys.lifecycleHistory(apiId),
    queryFn: async () => unwrap(await api.GET('/apis/{apiId}/lifecycle-history', { params: { path: { apiId } } })).list ?? [],
  });
  const [checked, setChecked] = useState<Record<string, boolean>>({});
  const change = useMutation({
    mutationFn: async (action: Action) => {
      const items = state.data?.checkItems ?? [];
      // WSO2's form: "name:true,name2:false", every item of the state.
      const lifecycleChecklist = items.length
        ? items.map((i) => `${i.name}:${checked[i.name ?? ''] ?? i.value ?? false}`).join(',')
        : undefined;
      return unwrap(await api.POST('/apis/change-lifecycle', { params: { query: { apiId, action, lifecycleChecklist } } }));
    },
    onSuccess: () => setChecked({}),
    onSettled: () => queries.invalidateQueries({ queryKey: queryKeys.api(apiId) }),
  });
  if (state.isPending) return <LoadingState label="Loading the lifecycle" />;
  if (state.isError) return <ErrorNotice error={state.error} title="Cannot read the lifecycle state" />;
  const s = state.data;
  const transitions = s.availableTransitions ?? [];
  const checks = s.checkItems ?? [];
  return (
    <Stack>
      <Card withBorder>
        <Stack>
          <Group gap="sm">
            <Title order={3}>Current state</Title>
            <Badge size="lg" aria-label="Current state">
              {s.state}
            </Badge>
          </Group>
          <LifecycleDiagram current={s.state ?? ''} />
          {(a.lifeCycleStatus === 'CREATED' || a.lifeCycleStatus === 'PROTOTYPED') && <Requirements apiId={apiId} api={a} />}
          {checks.length > 0 && (
            <Stack gap={4} role="group" aria-label="Checklist">
              {checks.map((c) => (
                <Checkbox
                  key={c.name}
                  label={c.name}
                  checked={checked[c.name ?? ''] ?? c.value ?? false}
                  onChange={(e) => {
                    const v = e.currentTarget.checked;
                    setChecked((old) => ({ ...old, [c.name ?? '']: v }));
                  }}
                />
              ))}
            </Stack>
          )}
          {change.isError && <ErrorNotice error={change.error} title="The state did not change" />}
          {canPublish ? (
            transitions.length ? (
              <Stack gap="xs">
                {transitions.map((t) => (
                  <Group key={t.event} gap="sm" align="center">
                    <Button
                      onClick={() => change.mutate(t.event as Action)}
                      loading={change.isPending && change.variables === t.event}
                      disabled={change.isPending}
                      color={t.event === 'Block' || t.event === 'Retire' ? 'red' : undefined}
                      variant={t.event === 'Publish' || t.event === 'Re-Publish' ? 'filled' : 'default'}
                      miw={170}
                    >
                      {t.event}
                    </Button>
                    <Text size="sm" c="dimmed">
                      → {t.targetState}: {MEANING[t.event ?? ''] ?? ''}
                    </Text>
                  </Group>
                ))}
              </Stack>
            ) : (
              <Text size="sm">No transition leaves this state.</Text>
            )
          ) : (
            <Text size="sm" c="dimmed">
              Changing the lifecycle state needs the apim:api_publish scope.
            </Text>
          )}
        </Stack>
      </Card>
      <Title order={3}>History</Title>
      {history.isPending ? (
        <LoadingState label="Loading the history" />
      ) : history.isError ? (
        <ErrorNotice error={history.error} title="Cannot read the lifecycle history" />
      ) : history.data.length ? (
        <Table.ScrollContainer minWidth={480}>
          <Table aria-label="Lifecycle history">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>When</Table.Th>
                <Table.Th>From</Table.Th>
                <Table.Th>To</Table.Th>
                <Table.Th>By</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {history.data.map((h, i) => (
                <Table.Tr key={`${h.updatedTime}-${i}`}>
                  <Table.Td>{when(h.updatedTime)}</Table.Td>
                  <Table.Td>{h.previousState || '—'}</Table.Td>
                  <Table.Td>{h.postState}</Table.Td>
                  <Table.Td>{h.user}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : (
        <EmptyState title="No state changes yet" />
      )}
    </Stack>
  );
}
