import { Button, Group, Stack, Table, Text, TextInput, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorNotice, ListStates, unwrap, type AdminComponents } from '@apim/shared';
import { DeleteButton, useAskBeforeDelete } from '../components/AskBeforeDelete';
import { useAdmin } from '../client';

type Category = AdminComponents['schemas']['APICategory'];

/** `/categories`: the API categories publishers file APIs under and the DevPortal groups them by. */
export function CategoriesPage() {
  const api = useAdmin();
  const queries = useQueryClient();
  const list = useQuery({
    queryKey: ['api-categories'],
    queryFn: async () => unwrap(await api.GET('/api-categories')).list ?? [],
  });
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const refresh = () => queries.invalidateQueries({ queryKey: ['api-categories'] });
  const add = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/api-categories', {
          body: { name: name.trim(), description: description.trim() || undefined },
        }),
      ),
    onSuccess: async () => {
      setName('');
      setDescription('');
      await refresh();
    },
  });
  const deletion = useAskBeforeDelete<Category>({
    title: 'Delete API category',
    question: (c) => `Delete the category ${c.name}? The server refuses while an API names it.`,
    remove: async (c) => unwrap(await api.DELETE('/api-categories/{apiCategoryId}', { params: { path: { apiCategoryId: c.id ?? '' } } })),
    onDeleted: refresh,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  return (
    <Stack>
      <Title order={2}>API categories</Title>
      <form onSubmit={submit} aria-label="Add API category">
        <Stack>
          <Group align="flex-start" grow wrap="wrap">
            <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
            <TextInput label="Description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
          </Group>
          {add.isError && <ErrorNotice error={add.error} title="The category was not added" />}
          <Group>
            <Button type="submit" loading={add.isPending}>
              Add category
            </Button>
          </Group>
        </Stack>
      </form>
      <ListStates query={list} loading="Loading API categories" failed="Cannot list API categories" empty="No API categories">
        {(items) => (
          <Table striped aria-label="API categories">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Description</Table.Th>
                <Table.Th>APIs</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((c) => (
                <Table.Tr key={c.id ?? c.name}>
                  <Table.Td>{c.name}</Table.Td>
                  <Table.Td>
                    <Text size="sm">{c.description}</Text>
                  </Table.Td>
                  <Table.Td>{c.numberOfAPIs ?? 0}</Table.Td>
                  <Table.Td>
                    <DeleteButton label={`Delete category ${c.name}`} onClick={() => deletion.ask(c)} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </ListStates>
      {deletion.dialog}
    </Stack>
  );
}
