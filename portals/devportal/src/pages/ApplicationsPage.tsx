import { Anchor, Button, Group, Stack, Table, Text, Title, VisuallyHidden } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, PageControls, unwrap } from '@apim/shared';
import { useDevportal } from '../client';
import { ConfirmDialog } from '@apim/shared';
import { queryKeys, useApplications, type ApplicationInfo } from '../queries';

const PAGE_SIZE = 10;

/** `/applications`: the signed-in user's applications, a page at a time, to open, create or delete. */
export function ApplicationsPage() {
  const api = useDevportal();
  const queries = useQueryClient();
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const apps = useApplications(PAGE_SIZE, (page - 1) * PAGE_SIZE);
  const [doomed, setDoomed] = useState<ApplicationInfo>();
  const remove = useMutation({
    mutationFn: async (applicationId: string) =>
      unwrap(await api.DELETE('/applications/{applicationId}', { params: { path: { applicationId } } })),
    onSuccess: () => {
      setDoomed(undefined);
      void queries.invalidateQueries({ queryKey: queryKeys.applications() });
      void queries.invalidateQueries({ queryKey: ['subscriptions'] });
    },
  });
  const total = apps.data?.pagination?.total ?? apps.data?.count ?? 0;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>Applications</Title>
        <Button component={Link} to="/applications/create">
          Create application
        </Button>
      </Group>
      <Text size="sm" c="dimmed">
        An application holds the keys that call APIs, and the subscriptions that allow it.
      </Text>
      {apps.isPending ? (
        <LoadingState label="Loading applications" />
      ) : apps.isError ? (
        <ErrorNotice error={apps.error} title="Cannot list applications" />
      ) : apps.data.list?.length ? (
        <>
          <Table.ScrollContainer minWidth={480}>
            <Table aria-label="Applications" verticalSpacing="sm">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Plan</Table.Th>
                  <Table.Th>Subscriptions</Table.Th>
                  <Table.Th>
                    <VisuallyHidden>Actions</VisuallyHidden>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {apps.data.list.map((a) => (
                  <Table.Tr key={a.applicationId}>
                    <Table.Td>
                      <Anchor component={Link} to={`/applications/${a.applicationId}`} fw={600}>
                        {a.name}
                      </Anchor>
                      {a.description && (
                        <Text size="sm" c="dimmed" lineClamp={2}>
                          {a.description}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>{a.throttlingPolicy}</Table.Td>
                    <Table.Td>{a.subscriptionCount ?? 0}</Table.Td>
                    <Table.Td>
                      <Button
                        variant="subtle"
                        color="red"
                        size="xs"
                        aria-label={`Delete ${a.name}`}
                        onClick={() => {
                          remove.reset();
                          setDoomed(a);
                        }}
                      >
                        Delete
                      </Button>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          <PageControls label="Pages of applications" total={total} pageSize={PAGE_SIZE} page={page} onChange={(p) => setParams({ page: String(p) })} />
        </>
      ) : (
        <EmptyState title="You have no applications yet">
          <Text size="sm">Create one to get keys and subscribe to APIs.</Text>
        </EmptyState>
      )}
      <ConfirmDialog
        opened={doomed !== undefined}
        title="Delete application"
        confirmLabel="Delete"
        onClose={() => setDoomed(undefined)}
        onConfirm={() => doomed?.applicationId && remove.mutate(doomed.applicationId)}
        pending={remove.isPending}
        error={remove.error ?? undefined}
      >
        Delete <strong>{doomed?.name}</strong>? Its keys stop working and its subscriptions end.
      </ConfirmDialog>
    </Stack>
  );
}
