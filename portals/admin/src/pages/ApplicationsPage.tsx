import { Button, Group, Modal, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { EmptyState, ErrorNotice, LoadingState, PageControls, unwrap, type AdminComponents } from '@apim/shared';
import { useAdmin } from '../client';

type Application = AdminComponents['schemas']['ApplicationInfo'];

const PAGE_SIZE = 20;

/** "Change owner": the application goes to another user, who must exist (the server says so when not). */
function ChangeOwnerDialog({ app, onClose, onDone }: { app: Application | undefined; onClose: () => void; onDone: () => Promise<unknown> }) {
  const api = useAdmin();
  const [owner, setOwner] = useState('');
  const change = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/applications/{applicationId}/change-owner', {
          params: { path: { applicationId: app?.applicationId ?? '' }, query: { owner: owner.trim() } },
        }),
      ),
    onSuccess: async () => {
      setOwner('');
      onClose();
      await onDone();
    },
  });
  const close = () => {
    change.reset();
    setOwner('');
    onClose();
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    change.mutate();
  };
  return (
    <Modal opened={app !== undefined} onClose={close} title={`Change the owner of ${app?.name ?? ''}`} centered closeButtonProps={{ 'aria-label': 'Close' }}>
      <form onSubmit={submit} aria-label="Change owner">
        <Stack>
          <Text size="sm">Now owned by {app?.owner}. The new owner sees it, its keys and subscriptions in the Developer Portal.</Text>
          <TextInput label="New owner" required value={owner} onChange={(e) => setOwner(e.currentTarget.value)} data-autofocus />
          {change.isError && <ErrorNotice error={change.error} title="The owner was not changed" />}
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" loading={change.isPending}>
              Change owner
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** `/applications`: every user's applications, searched by owner or name, with "Change owner" (WSO2's Admin portal). */
export function ApplicationsPage() {
  const api = useAdmin();
  const queries = useQueryClient();
  const [user, setUser] = useState('');
  const [searched, setSearched] = useState('');
  const [page, setPage] = useState(1);
  const [changing, setChanging] = useState<Application>();
  const list = useQuery({
    queryKey: ['applications', searched, page],
    queryFn: async () => {
      const r = unwrap(
        await api.GET('/applications', {
          params: { query: { user: searched || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE } },
        }),
      );
      return { items: r.list ?? [], total: r.pagination?.total ?? r.count ?? 0 };
    },
    placeholderData: keepPreviousData,
  });
  const search = (e: FormEvent) => {
    e.preventDefault();
    setPage(1);
    setSearched(user.trim());
  };
  return (
    <Stack>
      <Title order={2}>Applications</Title>
      <form onSubmit={search} role="search">
        <Group align="flex-end">
          <TextInput label="Owner" placeholder="Every user's" value={user} onChange={(e) => setUser(e.currentTarget.value)} style={{ flex: 1 }} />
          <Button type="submit" variant="default">
            Search
          </Button>
        </Group>
      </form>
      {list.isPending ? (
        <LoadingState label="Loading applications" />
      ) : list.isError ? (
        <ErrorNotice error={list.error} title="Cannot list applications" />
      ) : list.data.items.length === 0 ? (
        <EmptyState title={searched ? `${searched} owns no applications` : 'No applications'} />
      ) : (
        <>
          <Table.ScrollContainer minWidth={480}>
            <Table striped aria-label="Applications">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Owner</Table.Th>
                  <Table.Th>State</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data.items.map((a) => (
                  <Table.Tr key={a.applicationId}>
                    <Table.Td>{a.name}</Table.Td>
                    <Table.Td>{a.owner}</Table.Td>
                    <Table.Td>{a.status}</Table.Td>
                    <Table.Td>
                      <Button size="xs" variant="default" aria-label={`Change owner of ${a.name ?? ''}`} onClick={() => setChanging(a)}>
                        Change owner
                      </Button>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <PageControls label="Pages of applications" total={list.data.total} pageSize={PAGE_SIZE} page={page} onChange={setPage} />
        </>
      )}
      <ChangeOwnerDialog app={changing} onClose={() => setChanging(undefined)} onDone={() => queries.invalidateQueries({ queryKey: ['applications'] })} />
    </Stack>
  );
}
