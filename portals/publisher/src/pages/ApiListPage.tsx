import { Anchor, Badge, Button, Group, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, PageControls, unwrap, useHasScope } from '@apim/shared';
import { usePublisher } from '../client';
import { DeploySampleApi } from '../components/DeploySampleApi';

export const PAGE_SIZE = 10;

/** `/apis`: every API the user may see, searched (`name:pizza`, `status:PUBLISHED`, or plain words) and paged. */
export function ApiListPage() {
  const api = usePublisher();
  const canCreate = useHasScope('apim:api_create');
  const [params, setParams] = useSearchParams();
  const query = params.get('query') ?? '';
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const [draft, setDraft] = useState(query);
  const apis = useQuery({
    queryKey: ['apis', query, page],
    queryFn: async () =>
      unwrap(await api.GET('/apis', { params: { query: { query: query || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE } } })),
    placeholderData: keepPreviousData,
  });
  const search = (e: FormEvent) => {
    e.preventDefault();
    setParams(draft ? { query: draft } : {});
  };
  const total = apis.data?.pagination?.total ?? apis.data?.count ?? 0;
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>APIs</Title>
        {canCreate && (
          <Button component={Link} to="/apis/create/openapi">
            Create API from OpenAPI
          </Button>
        )}
      </Group>
      <form onSubmit={search} role="search">
        <Group align="flex-end">
          <TextInput
            label="Search APIs"
            placeholder="name:pizza, context:/pizza, status:PUBLISHED"
            value={draft}
            onChange={(e) => setDraft(e.currentTarget.value)}
            style={{ flex: 1 }}
          />
          <Button type="submit" variant="default">
            Search
          </Button>
        </Group>
      </form>
      {apis.isPending ? (
        <LoadingState label="Loading APIs" />
      ) : apis.isError ? (
        <ErrorNotice error={apis.error} title="Cannot list APIs" />
      ) : apis.data.list?.length ? (
        <>
          <Table striped highlightOnHover aria-label="APIs">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Version</Table.Th>
                <Table.Th>Context</Table.Th>
                <Table.Th>Provider</Table.Th>
                <Table.Th>Lifecycle</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {apis.data.list.map((a) => (
                <Table.Tr key={a.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/apis/${a.id}`}>
                      {a.name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>{a.version}</Table.Td>
                  <Table.Td>{a.context}</Table.Td>
                  <Table.Td>{a.provider}</Table.Td>
                  <Table.Td>
                    <Badge variant="light">{a.lifeCycleStatus}</Badge>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          <Group justify="space-between">
            <Text size="sm" c="dimmed">
              {total} API{total === 1 ? '' : 's'}
            </Text>
            <PageControls
              label="Pages of APIs"
              total={total}
              pageSize={PAGE_SIZE}
              page={page}
              onChange={(p) => setParams(query ? { query, page: String(p) } : { page: String(p) })}
            />
          </Group>
        </>
      ) : (
        <EmptyState title={query ? `No API matches “${query}”` : 'No APIs yet'}>
          {canCreate && !query && (
            <>
              <Button component={Link} to="/apis/create/openapi">
                Create API from OpenAPI
              </Button>
              <DeploySampleApi />
            </>
          )}
        </EmptyState>
      )}
    </Stack>
  );
}
