import { Button, Group, NumberInput, Select, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorNotice, ListStates, unwrap, type AdminComponents } from '@apim/shared';
import { DeleteButton, useAskBeforeDelete } from '../components/AskBeforeDelete';
import { ReadOnlyBadge } from '../components/ReadOnlyBadge';
import { useAdmin } from '../client';

type Environment = AdminComponents['schemas']['Environment'];

const TYPES = [
  { value: 'hybrid', label: 'Hybrid: production and sandbox keys' },
  { value: 'production', label: 'Production keys only' },
  { value: 'sandbox', label: 'Sandbox keys only' },
];

/** How the environment's gateways are reached: `https://host:port/context`. */
export function gatewayUrl(e: Environment): string {
  const v = e.vhosts?.[0];
  if (!v) return '—';
  const port = v.httpsPort && v.httpsPort !== 443 ? `:${v.httpsPort}` : '';
  const context = v.httpContext ? `/${v.httpContext.replace(/^\//, '')}` : '';
  return `https://${v.host}${port}${context}`;
}

/** "Add gateway environment": a name gateways name in their `gateway_labels`, and the host APIs are called on. */
function AddEnvironmentForm({ onAdded }: { onAdded: () => Promise<unknown> }) {
  const api = useAdmin();
  const [name, setName] = useState('');
  const [type, setType] = useState('hybrid');
  const [host, setHost] = useState('');
  const [httpsPort, setHttpsPort] = useState<number | string>(8243);
  const add = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/environments', {
          body: {
            name: name.trim(),
            displayName: name.trim(),
            type,
            gatewayType: 'Regular',
            vhosts: [{ host: host.trim(), httpsPort: Number(httpsPort) || undefined, httpPort: 8280 }],
          } as Environment,
        }),
      ),
    onSuccess: async () => {
      setName('');
      setHost('');
      await onAdded();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  return (
    <form onSubmit={submit} aria-label="Add gateway environment">
      <Stack>
        <Group align="flex-start" grow wrap="wrap">
          <TextInput label="Name" description="Gateways serving it list it in gateway_labels" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <Select label="Keys accepted" data={TYPES} value={type} onChange={(v) => v && setType(v)} allowDeselect={false} />
          <TextInput label="Host" description="The host name clients call APIs on" required value={host} onChange={(e) => setHost(e.currentTarget.value)} />
          <NumberInput label="HTTPS port" min={1} max={65535} value={httpsPort} onChange={setHttpsPort} />
        </Group>
        {add.isError && <ErrorNotice error={add.error} title="The environment was not added" />}
        <Group>
          <Button type="submit" loading={add.isPending}>
            Add environment
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** `/environments`: the gateway environments APIs are deployed to; those from deployment.toml are read-only. */
export function EnvironmentsPage() {
  const api = useAdmin();
  const queries = useQueryClient();
  const list = useQuery({ queryKey: ['environments'], queryFn: async () => unwrap(await api.GET('/environments')).list ?? [] });
  const refresh = () => queries.invalidateQueries({ queryKey: ['environments'] });
  const deletion = useAskBeforeDelete<Environment>({
    title: 'Delete gateway environment',
    question: (e) => `Delete the environment ${e.name}? The server refuses while an API revision is deployed to it.`,
    remove: async (e) => unwrap(await api.DELETE('/environments/{environmentId}', { params: { path: { environmentId: e.id ?? '' } } })),
    onDeleted: refresh,
  });
  return (
    <Stack>
      <Title order={2}>Gateway environments</Title>
      <AddEnvironmentForm onAdded={refresh} />
      <ListStates query={list} loading="Loading gateway environments" failed="Cannot list gateway environments" empty="No gateway environments">
        {(items) => (
          <Table.ScrollContainer minWidth={520}>
            <Table striped aria-label="Gateway environments">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Keys accepted</Table.Th>
                  <Table.Th>Gateway URL</Table.Th>
                  <Table.Th>
                    <VisuallyHidden>Actions</VisuallyHidden>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((e) => (
                  <Table.Tr key={e.id ?? e.name}>
                    <Table.Td>
                      {e.name}{' '}
                      {e.isReadOnly && <ReadOnlyBadge label="read-only" />}
                    </Table.Td>
                    <Table.Td>{e.type}</Table.Td>
                    <Table.Td>
                      <Text size="sm" ff="monospace">
                        {gatewayUrl(e)}
                      </Text>
                    </Table.Td>
                    <Table.Td>{!e.isReadOnly && <DeleteButton label={`Delete environment ${e.name}`} onClick={() => deletion.ask(e)} />}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </ListStates>
      {deletion.dialog}
    </Stack>
  );
}
