import { Button, Checkbox, Group, Select, Stack, Switch, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorNotice, ListStates, unwrap, type AdminComponents } from '@apim/shared';
import { DeleteButton, useAskBeforeDelete } from '../components/AskBeforeDelete';
import { useAdmin } from '../client';

type BlockingCondition = AdminComponents['schemas']['BlockingCondition'];
type Kind = BlockingCondition['conditionType'];

const KINDS: { value: Kind; label: string; placeholder: string }[] = [
  { value: 'API', label: 'API context', placeholder: '/pizzashack/1.0.0' },
  { value: 'APPLICATION', label: 'Application', placeholder: 'owner:application' },
  { value: 'USER', label: 'User', placeholder: 'username' },
  { value: 'IP', label: 'IP address', placeholder: '203.0.113.9' },
  { value: 'IPRANGE', label: 'IP range', placeholder: '203.0.113.0' },
];

/**
 * WSO2's `conditionValue`: a string for API, APPLICATION and USER, an object for IP and IPRANGE. WSO2's
 * document declares an object for all, so the value is typed loosely here.
 */
type ConditionValue = string | { fixedIp?: string; startingIp?: string; endingIp?: string; invert?: boolean };

/** How a condition's value reads in the table. */
export function valueText(kind: Kind, value: unknown): string {
  if (typeof value === 'string') return value;
  const v = (value ?? {}) as Exclude<ConditionValue, string>;
  const not = v.invert ? 'all but ' : '';
  return kind === 'IPRANGE' ? `${not}${v.startingIp ?? ''} – ${v.endingIp ?? ''}` : `${not}${v.fixedIp ?? ''}`;
}

/** `/deny-policies`: requests blocked by API, application, user or client address; each on or off, added, deleted. */
export function DenyPoliciesPage() {
  const api = useAdmin();
  const queries = useQueryClient();
  const list = useQuery({
    queryKey: ['deny-policies'],
    queryFn: async () => unwrap(await api.GET('/throttling/deny-policies')).list ?? [],
  });
  const [kind, setKind] = useState<Kind>('API');
  const [value, setValue] = useState('');
  const [rangeEnd, setRangeEnd] = useState('');
  const [invert, setInvert] = useState(false);
  const refresh = () => queries.invalidateQueries({ queryKey: ['deny-policies'] });
  const add = useMutation({
    mutationFn: async () => {
      const conditionValue: ConditionValue =
        kind === 'IP' ? { fixedIp: value.trim(), invert } : kind === 'IPRANGE' ? { startingIp: value.trim(), endingIp: rangeEnd.trim(), invert } : value.trim();
      return unwrap(
        await api.POST('/throttling/deny-policies', {
          params: { header: { 'Content-Type': 'application/json' } },
          body: { conditionType: kind, conditionValue: conditionValue as unknown as Record<string, never>, conditionStatus: true },
        }),
      );
    },
    onSuccess: async () => {
      setValue('');
      setRangeEnd('');
      await refresh();
    },
  });
  const toggle = useMutation({
    mutationFn: async ({ conditionId, on }: { conditionId: string; on: boolean }) =>
      unwrap(
        await api.PATCH('/throttling/deny-policy/{conditionId}', {
          params: { path: { conditionId }, header: { 'Content-Type': 'application/json' } },
          body: { conditionStatus: on },
        }),
      ),
    onSuccess: refresh,
  });
  const deletion = useAskBeforeDelete<BlockingCondition>({
    title: 'Delete deny policy',
    question: (c) => `Delete the deny policy on ${valueText(c.conditionType, c.conditionValue)}? Gateways let such requests through again.`,
    remove: async (c) =>
      unwrap(await api.DELETE('/throttling/deny-policy/{conditionId}', { params: { path: { conditionId: c.conditionId ?? '' } } })),
    onDeleted: refresh,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  const chosen = KINDS.find((k) => k.value === kind) ?? KINDS[0];
  return (
    <Stack>
      <Title order={2}>Deny policies</Title>
      <Text size="sm">Gateways refuse matching requests with 403 (WSO2's 900805) while a policy is on.</Text>
      <form onSubmit={submit} aria-label="Add deny policy">
        <Stack>
          <Group align="flex-start" grow wrap="wrap">
            <Select label="Condition" data={KINDS} value={kind} onChange={(v) => v && setKind(v as Kind)} allowDeselect={false} />
            <TextInput
              label={kind === 'IPRANGE' ? 'First address' : 'Value'}
              placeholder={chosen?.placeholder}
              required
              value={value}
              onChange={(e) => setValue(e.currentTarget.value)}
            />
            {kind === 'IPRANGE' && (
              <TextInput label="Last address" placeholder="203.0.113.255" required value={rangeEnd} onChange={(e) => setRangeEnd(e.currentTarget.value)} />
            )}
          </Group>
          {(kind === 'IP' || kind === 'IPRANGE') && (
            <Checkbox label="Block every other address instead" checked={invert} onChange={(e) => setInvert(e.currentTarget.checked)} />
          )}
          {add.isError && <ErrorNotice error={add.error} title="The policy was not added" />}
          <Group>
            <Button type="submit" loading={add.isPending}>
              Add deny policy
            </Button>
          </Group>
        </Stack>
      </form>
      {toggle.isError && <ErrorNotice error={toggle.error} title="The policy was not changed" />}
      <ListStates query={list} loading="Loading deny policies" failed="Cannot list deny policies" empty="No deny policies">
        {(items) => (
          <Table striped aria-label="Deny policies">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Condition</Table.Th>
                <Table.Th>Value</Table.Th>
                <Table.Th>On</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((c) => {
                const shown = valueText(c.conditionType, c.conditionValue);
                return (
                  <Table.Tr key={c.conditionId}>
                    <Table.Td>{KINDS.find((k) => k.value === c.conditionType)?.label ?? c.conditionType}</Table.Td>
                    <Table.Td>{shown}</Table.Td>
                    <Table.Td>
                      <Switch
                        aria-label={`Deny ${shown}`}
                        checked={c.conditionStatus !== false}
                        onChange={(e) => c.conditionId && toggle.mutate({ conditionId: c.conditionId, on: e.currentTarget.checked })}
                      />
                    </Table.Td>
                    <Table.Td>
                      <DeleteButton label={`Delete deny policy ${shown}`} onClick={() => deletion.ask(c)} />
                    </Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        )}
      </ListStates>
      {deletion.dialog}
    </Stack>
  );
}
